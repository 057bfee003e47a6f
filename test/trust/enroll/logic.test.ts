/** Unit tests of the enrollment logic above the databases: plan, verification, matrix, exit codes. */
import { describe, it, expect } from 'vitest';
import type { DbState, TrustedCert } from '../../../src/trust/nss.js';
import { databasesFor, planClient, selectionFrom } from '../../../src/trust/enroll/plan.js';
import type { PlannedServer } from '../../../src/trust/enroll/plan.js';
import { combineCells, trustTakes, verifyClient } from '../../../src/trust/enroll/verify.js';
import { buildDocument, renderDocument } from '../../../src/trust/enroll/report.js';
import { judgeCertificate, parseServerSpec, candidatesFromAdvertisements, dedupeCandidates, runningServersOf, derFromBase64Output } from '../../../src/trust/collect.js';
import { generateServerCertificate } from '../../../src/trust/cert.js';

const plain = { bold: (s: string) => s, green: (s: string) => s, red: (s: string) => s, yellow: (s: string) => s, dim: (s: string) => s };

const cert = (n: number, trust = 'P,P,P'): TrustedCert => ({
  certinfo: `00:cc:24:bf:${n.toString(16).padStart(2, '0')}`,
  sha256: n.toString(16).padStart(64, '0'),
  trust,
});
const server = (n: number): PlannedServer => ({ name: `s${n}`, certinfo: cert(n).certinfo, sha256: cert(n).sha256, der: Buffer.from([n]) });
const state = (kind: DbState['kind'], certs: TrustedCert[], dir = `/db/${kind}`): DbState => ({ kind, dir, exists: true, certs });

describe('selection and databases (stap --trust-servers rules)', () => {
  it('defaults to per-user SSL; signer alone is only signer; all-users moves SSL to /etc', () => {
    expect(selectionFrom({})).toEqual({ ssl: true, allUsers: false, signer: false });
    expect(selectionFrom({ signer: true })).toEqual({ ssl: false, allUsers: false, signer: true });
    expect(databasesFor(selectionFrom({ allUsers: true }))).toEqual([{ kind: 'ssl-all-users' }]);
    expect(databasesFor(selectionFrom({ ssl: true, signer: true }), '/x/')).toEqual([
      { kind: 'ssl-user', dir: '/x/ssl/client' },
      { kind: 'signer' },
    ]);
  });
});

describe('plan', () => {
  it('adds only missing certificates, per database', () => {
    const dbs = databasesFor({ ssl: true, allUsers: false, signer: true });
    const plan = planClient('c1', dbs, [state('ssl-user', [cert(1)]), state('signer', [])], [server(1), server(2)], 'enroll');
    expect(plan.changes).toBe(3);
    expect(plan.dbs[0]!.actions.map((a) => a.server)).toEqual(['s2']);
    expect(plan.dbs[0]!.unchanged).toEqual(['s1']);
    expect(plan.dbs[1]!.actions.map((a) => a.server)).toEqual(['s1', 's2']);
  });
  it('a second run plans nothing', () => {
    const dbs = databasesFor(selectionFrom({}));
    const plan = planClient('c1', dbs, [state('ssl-user', [cert(1), cert(2)])], [server(1), server(2)], 'enroll');
    expect(plan.changes).toBe(0);
  });
  it('revoke removes every certificate with the certinfo, and only those', () => {
    const dup = { ...cert(1), sha256: 'f'.repeat(64) }; // same serial, other certificate
    const dbs = databasesFor(selectionFrom({}));
    const plan = planClient('c1', dbs, [state('ssl-user', [cert(1), dup, cert(2)])], [{ name: 'x', certinfo: cert(1).certinfo }], 'revoke');
    expect(plan.dbs[0]!.actions.map((a) => a.sha256).sort()).toEqual([cert(1).sha256, dup.sha256].sort());
  });
});

describe('verify (from the databases read back, not from exit statuses)', () => {
  it('added / present / failed', () => {
    const v = verifyClient('enroll', [server(1), server(2), server(3)], [state('ssl-user', [cert(1)])], [state('ssl-user', [cert(1), cert(2)])], [
      { op: 'added', kind: 'ssl-user', dir: '/db', sha256: cert(2).sha256, method: 'certutil' },
    ]);
    expect(v.cells.map((c) => c.state)).toEqual(['present', 'added', 'failed']);
    expect(v.failed).toBe(true);
    expect(v.changed).toBe(true);
    expect(v.cells[1]!.dbs[0]!.method).toBe('certutil');
  });
  it('a certificate present without trust did not take', () => {
    const v = verifyClient('enroll', [server(1)], [state('ssl-user', [])], [state('ssl-user', [cert(1, ',,')])], []);
    expect(v.cells[0]!.state).toBe('failed');
    expect(v.cells[0]!.dbs[0]!.detail).toMatch(/not trusted/);
  });
  it('an unexpected new certificate (not collected) fails the client', () => {
    const v = verifyClient('enroll', [server(1)], [state('ssl-user', [])], [state('ssl-user', [cert(1), cert(9)])], []);
    expect(v.failed).toBe(true);
    expect(v.problems[0]).toMatch(/unexpected certificate 00:cc:24:bf:09/);
  });
  it('revoke: revoked / absent / still present', () => {
    const before = [state('ssl-user', [cert(1), cert(2)])];
    const ok = verifyClient('revoke', [server(1), server(3)], before, [state('ssl-user', [cert(2)])], []);
    expect(ok.cells.map((c) => c.state)).toEqual(['revoked', 'absent']);
    expect(ok.failed).toBe(false);
    const bad = verifyClient('revoke', [server(1)], before, before, []);
    expect(bad.cells[0]!.state).toBe('failed');
  });
  it('trust letters per database kind', () => {
    expect(trustTakes('ssl-user', 'P,P,P')).toBe(true);
    expect(trustTakes('signer', 'P,,')).toBe(false);
    expect(trustTakes('signer', ',,P')).toBe(true);
    expect(combineCells(['present', 'added'])).toBe('added');
    expect(combineCells(['added', 'failed'])).toBe('failed');
  });
});

describe('report', () => {
  const servers = [{ name: 's1', address: '10.0.0.1', port: 1, source: 'cli' as const, status: 'ok' as const, certinfo: cert(1).certinfo }];
  it('no change on a repeated run says so and exits 0', () => {
    const doc = buildDocument({
      mode: 'enroll', dryRun: false, trust: selectionFrom({}), servers,
      clients: [{ client: 'c1', hostname: 'c1', category: 'ok', changed: false, cells: { s1: 'present' }, detail: {}, problems: [], durationMs: 1 }],
    });
    expect(doc.noChange).toBe(true);
    expect(doc.exitCode).toBe(0);
    expect(renderDocument(doc, plain)).toMatch(/No change/);
  });
  it('unreachable client: listed, exit 5 beats failed 3; skipped server counts as failed', () => {
    const doc = buildDocument({
      mode: 'enroll', dryRun: false, trust: selectionFrom({}),
      servers: [...servers, { name: 'rogue', address: '10.0.0.9', port: 2, source: 'mdns', status: 'spoof', message: 'possible spoof' }],
      clients: [
        { client: 'c1', hostname: 'c1', category: 'ok', changed: true, cells: { s1: 'added' }, detail: {}, problems: [], durationMs: 1 },
        { client: 'c2', hostname: 'c2', category: 'unreachable', changed: false, cells: {}, detail: {}, problems: [], message: 'c2: refused', durationMs: 1 },
      ],
    });
    expect(doc.summary.unreachable).toEqual(['c2']);
    expect(doc.summary.skippedServers).toEqual(['rogue']);
    expect(doc.exitCode).toBe(5);
    const text = renderDocument(doc, plain);
    expect(text).toMatch(/^c1\s+added\s+ok \(changed\)$/m);
    expect(text).toMatch(/^c2\s+-\s+unreachable$/m);
    expect(text).toMatch(/SKIPPED \(spoof\)/);
  });
});

describe('collect decisions', () => {
  it('parses server specs and refuses bad ones', () => {
    expect(parseServerSpec('10.0.0.1:7777')).toMatchObject({ address: '10.0.0.1', port: 7777, claimedCertinfo: undefined });
    expect(parseServerSpec('[fe80::1]:7777=00:CC:24:BF:1D')).toMatchObject({ address: 'fe80::1', claimedCertinfo: '00:cc:24:bf:1d' });
    expect(() => parseServerSpec('10.0.0.1')).toThrow(/ADDRESS:PORT/);
    expect(() => parseServerSpec('h:1=zz')).toThrow(/certinfo/);
  });
  it('a certificate whose serial differs from the claim is a possible spoof', async () => {
    const real = await generateServerCertificate({ hostname: 'h1' });
    const ok = judgeCertificate({ name: 'a', address: '1.1.1.1', port: 1, source: 'mdns', claimedCertinfo: real.certinfo }, real.certDer, new Date());
    expect(ok.status).toBe('ok');
    const spoof = judgeCertificate({ name: 'a', address: '1.1.1.1', port: 1, source: 'mdns', claimedCertinfo: '00:11:22:33:44' }, real.certDer, new Date());
    expect(spoof.status).toBe('spoof');
    expect(spoof.shortMessage).toMatch(/possible spoof/);
    const expired = judgeCertificate({ name: 'a', address: '1.1.1.1', port: 1, source: 'cli' }, real.certDer, new Date(Date.now() + 400 * 86400_000));
    expect(expired.status).toBe('invalid');
  });
  it('a server read over SSH must present its own stap.cert over TLS', async () => {
    // Same serial (certinfo), different key, so only the stap.cert comparison tells.
    const now = new Date();
    const real = await generateServerCertificate({ hostname: 'h1', now });
    const other = await generateServerCertificate({ hostname: 'h1', now, serialHex: real.certinfo.replace(/:/g, '') });
    expect(other.certinfo).toBe(real.certinfo);
    const cand = { name: 'h1:1', address: '1.1.1.1', port: 1, source: 'ssh' as const, claimedCertinfo: real.certinfo, sshDer: real.certDer };
    expect(judgeCertificate(cand, real.certDer, new Date()).status).toBe('ok');
    expect(judgeCertificate(cand, other.certDer, new Date()).shortMessage).toMatch(/not the stap.cert read from its host/);
    expect(runningServersOf(JSON.stringify({ servers: [
      { state: 'running', port: 7777, certinfo: real.certinfo, sslDir: '/var/lib/stap-server/.systemtap/ssl/server' },
      { state: 'dead', port: 7778, sslDir: '/x' },
      { state: 'running', port: null, sslDir: '/y' },
    ] }))).toHaveLength(1);
    expect(runningServersOf('not json')).toEqual([]);
    expect(derFromBase64Output(real.certDer.toString('base64').replace(/(.{76})/g, '$1\n'))!.equals(real.certDer)).toBe(true);
    expect(derFromBase64Output('$(rm -rf /)')).toBeUndefined();
  });

  it('advertisements become candidates; no certinfo claims something impossible', () => {
    const c = candidatesFromAdvertisements([
      { host: 'h1', port: 7777, addresses: ['fe80::1', '10.0.0.1'], txt: { certinfo: '00:cc:24:bf:1d', sysinfo: '6.1.0 x86_64' } },
      { host: 'h2', port: 7777, addresses: ['10.0.0.2'], txt: { sysinfo: '6.1.0 x86_64' } },
      { host: 'h3', port: 7777, addresses: ['10.0.0.3'], txt: { certinfo: '00:cc:24:bf:1e', sysinfo: '5.0 x86_64' } },
    ], { release: '6.1.0' });
    expect(c.map((x) => [x.address, x.claimedCertinfo])).toEqual([['10.0.0.1', '00:cc:24:bf:1d'], ['10.0.0.2', 'none']]);
    expect(dedupeCandidates([...c, ...c])).toHaveLength(2);
  });
});
