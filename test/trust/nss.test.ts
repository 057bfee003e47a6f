/**
 * Real NSS databases driven by real certutil through the same scripts that run on client hosts.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, mkdirSync, chmodSync, statSync, chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { generateServerCertificate } from '../../src/trust/cert.js';
import {
  addCerts,
  buildApplyScript,
  certinfoFromSerialText,
  parseScriptOutput,
  parseCertutilDetails,
  readDb,
  revokeCerts,
  runScriptLocally,
  shQuote,
  trustLettersOf,
  sha256Hex,
} from '../../src/trust/nss.js';

let root: string;
const certs: { certDer: Buffer; certinfo: string }[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sf-nss-'));
  const base = Date.UTC(2026, 10, 26, 5, 0, 0);
  for (let i = 0; i < 3; i++) {
    // Distinct serials: serial = time >> 19 µs, so space the generation times by seconds.
    certs.push(await generateServerCertificate({ now: new Date(base + i * 10_000), hostname: `h${i + 1}` }));
  }
  expect(new Set(certs.map((c) => c.certinfo)).size).toBe(3);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('shQuote', () => {
  it('round-trips hostile strings through sh unchanged and unexecuted', async () => {
    const marker = join(root, 'pwned');
    for (const s of [`a b`, `it's`, `$(touch ${marker})`, '`touch x`', 'x;y|z&', '"\\n', '-n']) {
      const r = await execa('sh', ['-c', `printf %s ${shQuote(s)}`]);
      expect(r.stdout).toBe(s);
    }
    expect(existsSync(marker)).toBe(false);
  });
});

describe('script building refuses what it cannot quote safely', () => {
  it('rejects a --use-server word that is not address:port, and non-hex fingerprints', () => {
    const der = Buffer.from('30030201', 'hex');
    expect(() => buildApplyScript([{ db: { kind: 'ssl-user', dir: '/x' }, add: [{ der, useServer: '10.0.0.1:7777;touch /tmp/x' }], revoke: [] }], { method: 'auto' })).toThrow(/address:port/);
    expect(() => buildApplyScript([{ db: { kind: 'ssl-user', dir: '/x' }, add: [], revoke: ['$(reboot)'] }], { method: 'auto' })).toThrow(/SHA-256/);
    expect(buildApplyScript([{ db: { kind: 'ssl-user', dir: '/x' }, add: [{ der, useServer: '[fe80::1%eth0]:7777' }], revoke: [] }], { method: 'auto' })).toContain('--use-server=[fe80::1%eth0]:7777');
  });
});

describe('trust letters', () => {
  it('maps certutil words back to trust letters', () => {
    expect(trustLettersOf(['Terminal Record', 'Trusted'])).toBe('P');
    expect(trustLettersOf(['Valid CA', 'Trusted CA', 'User'])).toBe('Cu');
    expect(trustLettersOf(['Terminal Record'])).toBe('p');
    expect(trustLettersOf([])).toBe('');
  });
  it('parses per-certificate trust from certutil details', () => {
    const text = `Certificate:\n    Data:\n        Serial Number:\n            00:cc:24:bf:1d\n        Subject: "CN=Systemtap Compile Server,OU=Systemtap"\n    Fingerprint (SHA-256):\n        ${'AB:'.repeat(31)}AB\n    Certificate Trust Flags:\n        SSL Flags:\n            Terminal Record\n            Trusted\n        Email Flags:\n        Object Signing Flags:\n            Valid CA\n            Trusted CA\n`;
    const m = parseCertutilDetails(text);
    expect(m.get('ab'.repeat(32))).toEqual({ certinfo: '00:cc:24:bf:1d', trust: 'P,,C', subject: 'CN=Systemtap Compile Server,OU=Systemtap' });
  });
  it('reads certinfo from both of certutil\'s serial number layouts', () => {
    expect(certinfoFromSerialText('Serial Number: 3 (0x3)', '')).toBe('03');
    expect(certinfoFromSerialText('Serial Number: 2166751013 (0x8126bf25)', '')).toBe('00:81:26:bf:25');
    expect(certinfoFromSerialText('Serial Number:', '            00:cc:24:bf:13')).toBe('00:cc:24:bf:13');
  });
});

describe('NSS trust database (real certutil)', () => {
  it('creates the database, adds a certificate as stap-server P,P,P, and lists it by certinfo', async () => {
    const dir = join(root, 'user', 'ssl', 'client');
    const out = await addCerts({ kind: 'ssl-user', dir }, [certs[0]!.certDer]);
    expect(out.errors).toEqual([]);
    expect(out.events.map((e) => e.op).sort()).toEqual(['added', 'created']);
    const state = await readDb({ kind: 'ssl-user', dir });
    expect(state.exists).toBe(true);
    expect(state.certs.map((c) => [c.certinfo, c.trust])).toEqual([[certs[0]!.certinfo, 'P,P,P']]);
    // certutil agrees independently
    const l = await execa('certutil', ['-L', '-d', `sql:${dir}`]);
    expect(l.stdout).toMatch(/stap-server\s+P,P,P/);
    expect(statSync(join(dir, 'cert9.db')).mode & 0o777).toBe(0o644);
  });

  it('is idempotent: adding the same certificate again changes nothing', async () => {
    const dir = join(root, 'idem');
    await addCerts({ kind: 'ssl-user', dir }, [certs[0]!.certDer, certs[1]!.certDer]);
    const again = await addCerts({ kind: 'ssl-user', dir }, [certs[0]!.certDer, certs[1]!.certDer]);
    expect(again.events).toEqual([]);
    const state = await readDb({ kind: 'ssl-user', dir });
    expect(state.certs.map((c) => c.certinfo).sort()).toEqual([certs[0]!.certinfo, certs[1]!.certinfo].sort());
  });

  it('revokes exactly one of several stap-server certificates and keeps the others with their trust', async () => {
    const dir = join(root, 'revoke');
    await addCerts({ kind: 'ssl-user', dir }, certs.map((c) => c.certDer));
    // Give one kept certificate distinct trust flags; the revoke must preserve them.
    const pemDir = join(root, 'pem');
    mkdirSync(pemDir, { recursive: true });
    // certutil -M modifies NSS's "best" match; find which one that is afterwards.
    await execa('certutil', ['-M', '-n', 'stap-server', '-t', 'CP,,P', '-d', `sql:${dir}`]);
    const before = await readDb({ kind: 'ssl-user', dir });
    expect(before.certs).toHaveLength(3);
    const special = before.certs.find((c) => c.trust === 'CP,,P');
    expect(special).toBeDefined();
    // Revoke one that is NOT the one certutil -D would pick first (the "best" one, also the -M target).
    const victim = before.certs.find((c) => c.sha256 !== special!.sha256)!;
    const out = await revokeCerts({ kind: 'ssl-user', dir }, [victim.certinfo]);
    expect(out.errors).toEqual([]);
    expect(out.events.filter((e) => e.op === 'revoked').map((e) => e.sha256)).toEqual([victim.sha256]);
    const after = await readDb({ kind: 'ssl-user', dir });
    expect(after.certs.map((c) => c.certinfo).sort()).toEqual(
      before.certs.filter((c) => c !== victim).map((c) => c.certinfo).sort(),
    );
    expect(after.certs.find((c) => c.sha256 === special!.sha256)?.trust).toBe('CP,,P');
    // no staging directory left behind
    expect(readdirSync(dir).filter((f) => f.startsWith('.stap-fleet'))).toEqual([]);
    // and a real certutil listing has exactly two entries
    const l = await execa('certutil', ['-L', '-d', `sql:${dir}`]);
    expect(l.stdout.match(/^stap-server\s/gm)).toHaveLength(2);
  });

  it('a failing certificate does not stop the others (NSS refuses a second certificate with the same serial)', async () => {
    const dir = join(root, 'collide');
    const when = new Date(Date.UTC(2026, 10, 26, 6, 0, 0));
    const a = await generateServerCertificate({ now: when, hostname: 'a' });
    const b = await generateServerCertificate({ now: when, hostname: 'b', serialHex: a.certinfo.replace(/:/g, '') }); // same serial, other key
    expect(b.certinfo).toBe(a.certinfo);
    await addCerts({ kind: 'ssl-user', dir }, [a.certDer]);
    const out = await addCerts({ kind: 'ssl-user', dir }, [b.certDer, certs[2]!.certDer]);
    const failed = out.events.filter((e) => e.op === 'add-failed');
    expect(failed.map((e) => e.sha256)).toEqual([sha256Hex(b.certDer)]);
    expect(failed[0]!.detail).toMatch(/SEC_ERROR_REUSED_ISSUER_AND_SERIAL/);
    expect(out.events.filter((e) => e.op === 'added').map((e) => e.sha256)).toEqual([sha256Hex(certs[2]!.certDer)]);
    expect((await readDb({ kind: 'ssl-user', dir })).certs.map((c) => c.sha256).sort()).toEqual([sha256Hex(a.certDer), sha256Hex(certs[2]!.certDer)].sort());
  });

  it('revoking a certificate that is not there is a no-op', async () => {
    const dir = join(root, 'revoke-none');
    await addCerts({ kind: 'ssl-user', dir }, [certs[0]!.certDer]);
    const out = await revokeCerts({ kind: 'ssl-user', dir }, [certs[2]!.certinfo]);
    expect(out.events).toEqual([]);
    expect((await readDb({ kind: 'ssl-user', dir })).certs).toHaveLength(1);
  });

  it('signer database: root-owned, not group/other-writable, fixed when it was not', async () => {
    const dir = join(root, 'etc', 'systemtap', 'staprun');
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    chownSync(dir, 65534, 65534);
    const out = await addCerts({ kind: 'signer', dir }, [certs[1]!.certDer]);
    expect(out.events.map((e) => e.op).sort()).toEqual(['added', 'created', 'perms-fixed']);
    const st = statSync(dir);
    expect(st.uid).toBe(0);
    expect(st.mode & 0o022).toBe(0);
    const state = await readDb({ kind: 'signer', dir });
    expect(state.mode).toBe('755');
    expect(state.certs.map((c) => c.certinfo)).toEqual([certs[1]!.certinfo]);
  });

  it('a directory name with quotes and $() is used literally', async () => {
    const dir = join(root, `we'ird $(touch ${join(root, 'pwned2')}) dir`);
    await addCerts({ kind: 'ssl-user', dir }, [certs[2]!.certDer]);
    expect((await readDb({ kind: 'ssl-user', dir })).certs.map((c) => c.certinfo)).toEqual([certs[2]!.certinfo]);
    expect(existsSync(join(root, 'pwned2'))).toBe(false);
  });

  it('per-client cost: adding with certutil starts one batch and one listing; a repeated run only the listing', async () => {
    // What runs on every client is CPU the whole fleet pays (2 shared cores in the benchmark): count the
    // processes the enrollment script really starts (strace), not the lines it has.
    const dir = join(root, 'cost', 'ssl', 'client');
    const script = buildApplyScript(
      [{ db: { kind: 'ssl-user', dir }, add: certs.map((c) => ({ der: c.certDer, useServer: '127.0.0.1:1' })), revoke: [] }],
      { method: 'certutil', dumpBefore: true },
    );
    const execs = async (): Promise<{ names: string[]; out: ReturnType<typeof parseScriptOutput> }> => {
      const log = join(root, `strace-${Math.random().toString(36).slice(2)}`);
      const r = await execa('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'status=successful', '-o', log, 'sh', '-s'], { input: script, reject: false });
      const names = readFileSync(log, 'utf8')
        .split('\n')
        .map((l) => /execve\("([^"]+)"/.exec(l)?.[1])
        .filter((x): x is string => !!x)
        .map((x) => x.replace(/.*\//, ''));
      return { names, out: parseScriptOutput(r.stdout) };
    };
    const first = await execs();
    expect(first.out.events.filter((e) => e.op === 'added').map((e) => e.sha256).sort()).toEqual(certs.map((c) => sha256Hex(c.certDer)).sort());
    expect(first.names.filter((n) => n === 'certutil')).toHaveLength(2);
    expect([...new Set(first.names)].sort()).toEqual(['certutil', 'chmod', 'mkdir', 'mktemp', 'rm', 'sh']);
    expect(first.out.states[1]!.certs.map((c) => c.trust)).toEqual(['P,P,P', 'P,P,P', 'P,P,P']);
    const again = await execs();
    expect(again.names).toEqual(['sh', 'certutil']);
    expect(again.out.events).toEqual([]);
    expect(again.out.states.map((st) => st.certs.length)).toEqual([3, 3]);
  });

  it('the ssl-user database defaults to $SYSTEMTAP_DIR/ssl/client like stap', async () => {
    const sd = join(root, 'stapdir');
    const out = await runScriptLocally(
      buildApplyScript([{ db: { kind: 'ssl-user' }, add: [{ der: certs[0]!.certDer }], revoke: [] }], { method: 'certutil' }),
      { env: { ...process.env, SYSTEMTAP_DIR: sd } },
    );
    expect(out.states[0]!.dir).toBe(join(sd, 'ssl', 'client'));
    expect(out.states[0]!.certs.map((c) => c.sha256)).toEqual([sha256Hex(certs[0]!.certDer)]);
  });
});
