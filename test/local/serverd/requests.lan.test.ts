/**
 * Acceptance (issue 3), LAN hosts A (our server, as stap-server) and B (clients):
 * module signing end to end with a stand-in stap, the hostile-request suite, and 16 concurrent
 * clients against --max-threads 4.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createLan, type Lan, type LanHost } from '../../lan/index.js';
import { installedRelease, readZip } from './helpers/daemon.js';
import { startLanServer, serverDir, clientEnv, trust, type LanServer } from './helpers/lan.js';
import { makeZip, goodRequest, frame } from './helpers/zip.js';

const REL = installedRelease();
const RAW_CLIENT = resolve(import.meta.dirname, 'helpers/raw-client.mjs');
let lan: Lan;
let A: LanHost;
let B: LanHost;
const servers: LanServer[] = [];

beforeAll(async () => {
  lan = await createLan({ hosts: 2, tag: 'sdr' });
  [A, B] = lan.hosts as [LanHost, LanHost];
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await lan?.destroy();
});

async function server(name: string, args: string[]): Promise<LanServer> {
  const s = await startLanServer(A, name, args);
  servers.push(s);
  return s;
}

/** A stand-in for stap (readable by stap-server): at -p4 it makes one module in --tmpdir and names it. */
function fakeStap(dir: string, opts: { sleepMs?: number; record?: string } = {}): string {
  const path = join(dir, 'fake-stap');
  writeFileSync(
    path,
    `#!/bin/sh
tmp=""; p4=""
for a in "$@"; do case "$a" in --tmpdir=*) tmp="\${a#--tmpdir=}";; -p4) p4=1;; esac; done
[ -n "$tmp" ] || { echo "fake stap (version 4.8)"; exit 0; }   # the server's own stap -V at start
${opts.record ? `echo "start $(date +%s%N)" >> ${opts.record}` : ''}
${opts.sleepMs ? `sleep ${opts.sleepMs / 1000}` : ''}
${opts.record ? `echo "end $(date +%s%N)" >> ${opts.record}` : ''}
if [ -n "$p4" ]; then
  name="stap_fake_$$"
  { echo "fake module built for: $*"; head -c 4096 /dev/urandom; } > "$tmp/$name.ko"
  echo "$name.ko"
fi
echo "fake stap ran" >&2
exit 0
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function opensslVerify(pub: string, file: string, sig: string): boolean {
  try {
    execFileSync('openssl', ['dgst', '-sha1', '-verify', pub, '-signature', sig, file], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

describe('module signing end to end', () => {
  it('returns .ko and .ko.sgn at -p4 --privilege=stapusr; the signature verifies against stap.cert, tampering does not', async () => {
    const dir = serverDir(A, 'signing');
    const s = await server('signing', ['-r', REL, '--stap', fakeStap(dir)]);
    const stapdir = join(B.dir, 'stapdir-sign');
    expect((await trust(B, stapdir, { ip: A.ip, port: s.port })).exitCode).toBe(0);
    const outs: string[] = [];
    for (const n of [1, 2]) {
      const cwd = join(B.dir, `sign-out-${n}`);
      mkdirSync(cwd, { recursive: true });
      const r = await B.exec(['stap', `--use-server=${A.ip}:${s.port}`, '-r', REL, '-p4', '--privilege=stapusr', '-e', 'probe begin { exit() }'], {
        env: clientEnv(stapdir),
        cwd,
      });
      expect(r.exitCode, r.stderr).toBe(0);
      const files = readdirSync(cwd).sort();
      expect(files).toHaveLength(2);
      expect(files[0]).toMatch(/^stap_fake_\d+\.ko$/);
      expect(files[1]).toBe(`${files[0]}.sgn`);
      expect(r.stdout.trim()).toBe(files[0]); // the client prints the module name at -p4
      outs.push(join(cwd, files[0]!));
    }
    const pub = join(s.dir, 'pub.pem');
    execFileSync('sh', ['-c', 'openssl x509 -inform der -in "$0" -noout -pubkey > "$1"', join(s.ssl, 'stap.cert'), pub]);
    const [m1, m2] = outs as [string, string];
    expect(opensslVerify(pub, m1, `${m1}.sgn`)).toBe(true);
    expect(opensslVerify(pub, m2, `${m2}.sgn`)).toBe(true);
    expect(readFileSync(`${m1}.sgn`).length).toBe(256);
    // Swapped signature.
    expect(opensslVerify(pub, m1, `${m2}.sgn`)).toBe(false);
    // Corrupted module (byte 10, as SystemTap's server_privilege.exp does).
    const bad = Buffer.from(readFileSync(m1));
    bad[10] = bad[10]! ^ 0x01;
    writeFileSync(`${m1}.corrupt`, bad);
    expect(opensslVerify(pub, `${m1}.corrupt`, `${m1}.sgn`)).toBe(false);
    expect(readFileSync(s.log, 'utf8')).toMatch(/complete \(rc 0, signed stap000000\/stap_fake_\d+\.ko/);

    // Without an unprivileged mode nothing is signed.
    const cwd = join(B.dir, 'sign-out-dev');
    mkdirSync(cwd, { recursive: true });
    const dev = await B.exec(['stap', `--use-server=${A.ip}:${s.port}`, '-r', REL, '-p4', '-e', 'probe begin { exit() }'], { env: clientEnv(stapdir), cwd });
    expect(dev.exitCode, dev.stderr).toBe(0);
    expect(readdirSync(cwd).filter((f) => f.endsWith('.sgn'))).toEqual([]);
  }, 120_000);
});

interface RawCase {
  name: string;
  payload?: Buffer;
  endAfterWrite?: boolean;
  timeoutMs?: number;
}
interface RawOutcome {
  name: string;
  response: Buffer;
  closed: boolean;
  error?: string;
  ms: number;
}

async function rawCases(s: LanServer, cases: RawCase[]): Promise<Map<string, RawOutcome>> {
  const input = JSON.stringify({
    host: A.ip,
    port: s.port,
    cases: cases.map((c) => ({ ...c, payload: c.payload?.toString('base64') })),
  });
  const r = await B.exec([process.execPath, RAW_CLIENT], { input, timeoutMs: 120_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as Array<Omit<RawOutcome, 'response'> & { response: string }>;
  return new Map(out.map((o) => [o.name, { ...o, response: Buffer.from(o.response, 'base64') }]));
}

async function errorReply(o: RawOutcome | undefined): Promise<{ rc: string; stderr: string }> {
  expect(o?.closed).toBe(true);
  const files = await readZip(o!.response);
  return { rc: files.get('rc')!.toString(), stderr: files.get('stderr')?.toString() ?? '' };
}

describe('hostile requests', () => {
  it('get an error response or a closed connection, write nothing outside the request dir, and the server still serves', async () => {
    const dir = serverDir(A, 'hostile');
    const tmpParent = join(dir, 'tmp');
    mkdirSync(tmpParent);
    execFileSync('chown', ['stap-server:stap-server', tmpParent]);
    const s = await server('hostile', [
      '-r', REL, '--tmpdir', tmpParent, '--max-compressed-request', '100000', '--max-request-size', '1000000', '--request-timeout', '3',
    ]);
    const tag = `sf-evil-${process.pid}`;
    const evil = [`/tmp/${tag}-trav`, `/tmp/${tag}-abs`, `/tmp/${tag}-link`, join(dir, `${tag}-up`), join(tmpParent, `${tag}-up2`)];
    const len = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      return b;
    };
    const results = await rawCases(s, [
      { name: 'oversize length', payload: Buffer.concat([len(200_000), Buffer.alloc(200_000, 7)]) },
      { name: 'huge length then stall', payload: Buffer.concat([len(0x7fffffff), Buffer.alloc(100)]) },
      { name: 'negative length', payload: len(-5) },
      { name: 'truncated stream', payload: Buffer.concat([len(1000), Buffer.alloc(10)]), endAfterWrite: true },
      { name: 'non-zip', payload: frame(Buffer.from('PK but not really a zip file, just some text'.repeat(20))) },
      { name: 'traversal', payload: frame(makeZip([{ name: 'version', data: '4.8' }, { name: `../../../../../../../..${evil[0]}`, data: 'x' }])) },
      { name: 'traversal up one', payload: frame(makeZip([{ name: `../../${tag}-up`, data: 'x' }, { name: `../${tag}-up2`, data: 'x' }])) },
      { name: 'absolute', payload: frame(makeZip([{ name: evil[1]!, data: 'x' }])) },
      { name: 'symlink', payload: frame(makeZip([{ name: 'argv1', data: '/etc/shadow', mode: 0o120777 }])) },
      { name: 'symlink dir', payload: frame(makeZip([{ name: 'd', data: '/tmp', mode: 0o120777 }, { name: `d/${tag}-link`, data: 'x' }])) },
      { name: 'zip bomb (lying sizes)', payload: frame(makeZip([{ name: 'bomb', data: Buffer.alloc(20_000_000), deflate: true, declaredSize: 10 }])) },
      { name: 'zip bomb (declared)', payload: frame(makeZip([{ name: 'bomb', data: Buffer.alloc(2_000_000), deflate: true }])) },
      ...['--tmpdir=/tmp/x', '-R/tmp', '-Bfoo', '--use-server=10.0.0.1:1'].map((opt) => ({
        name: `forbidden ${opt}`,
        payload: frame(goodRequest(REL, ['-p2', '-eprobe begin { exit() }', opt])),
      })),
      {
        name: 'locale with ; and newline',
        payload: frame(
          makeZip([
            { name: 'version', data: '4.8' },
            { name: 'sysinfo', data: `sysinfo: ${REL} x86_64` },
            { name: 'locale', data: 'LANG=C;touch /tmp/x\nLC_ALL=en\nUS\nLC_CTYPE=C.UTF-8\n' },
            { name: 'argv1', data: '-p1' },
            { name: 'argv2', data: '-eprobe begin { exit() }' },
          ]),
        ),
      },
      { name: 'wrong release', payload: frame(goodRequest('0.0.0-nope', ['-p1', '-eprobe begin { exit() }'])) },
      { name: 'silent client', timeoutMs: 15_000 },
    ]);

    const oversize = await errorReply(results.get('oversize length'));
    expect(oversize.rc).toBe('1');
    expect(oversize.stderr).toBe('Server: The request of 200000 bytes is larger than this server accepts (--max-compressed-request 100000 bytes).\n');
    for (const name of ['huge length then stall', 'silent client']) {
      const o = results.get(name)!;
      expect(o.closed, name).toBe(true);
      expect(o.response.length, name).toBe(0);
      expect(o.ms, name).toBeGreaterThan(2500); // dropped by the server's 3 s request timeout
      expect(o.ms, name).toBeLessThan(10_000);
    }
    for (const name of ['negative length', 'truncated stream']) {
      expect(results.get(name)!.closed, name).toBe(true);
      expect(results.get(name)!.response.length, name).toBe(0);
    }
    expect((await errorReply(results.get('non-zip'))).stderr).toMatch(/^Server: The request is not a valid zip file/);
    for (const name of ['traversal', 'traversal up one']) {
      expect((await errorReply(results.get(name))).stderr, name).toMatch(/traversal|invalid relative path/);
    }
    expect((await errorReply(results.get('absolute'))).stderr).toMatch(/absolute path/);
    for (const name of ['symlink', 'symlink dir']) expect((await errorReply(results.get(name))).stderr, name).toMatch(/symbolic link/);
    expect((await errorReply(results.get('zip bomb (lying sizes)'))).stderr).toMatch(/Unable to extract client request entry "bomb"/);
    expect((await errorReply(results.get('zip bomb (declared)'))).stderr).toBe(
      'Server: Uncompressed request size of 2000000 bytes is not within the expected range of 1 to 1000000 bytes.\n',
    );
    for (const [opt, msg] of [
      ['--tmpdir=/tmp/x', 'ERROR: --tmpdir is invalid with --client-options'],
      ['-R/tmp', 'ERROR: -R invalid with --client-options'],
      ['-Bfoo', 'ERROR: -B invalid with --client-options'],
      ['--use-server=10.0.0.1:1', 'ERROR: --use-server is invalid with --client-options'],
    ]) {
      const r = await errorReply(results.get(`forbidden ${opt}`));
      expect(r.rc, opt).not.toBe('0');
      expect(r.stderr, opt).toContain(msg);
    }
    const locale = await errorReply(results.get('locale with ; and newline'));
    expect(locale.rc).toBe('0'); // refused lines are dropped, the compile goes on
    expect(locale.stderr).toContain("Server: Localization value 'C;touch /tmp/x' contains illegal characters\n");
    expect(locale.stderr).toContain("Server: Localization key=value line 'US' cannot be parsed\n");
    expect(existsSync('/tmp/x')).toBe(false);
    const wrong = await errorReply(results.get('wrong release'));
    expect(wrong).toEqual({ rc: '1', stderr: 'Server: Target kernel version 0.0.0-nope is not supported by this server\n' });

    for (const p of evil) expect(existsSync(p), p).toBe(false);
    expect(readdirSync(tmpParent)).toEqual([]); // every request dir was removed
    expect(readdirSync(dir).sort()).toEqual(['serverd.log', 'ssl', 'tmp']);

    // And the server still answers a real client.
    const stapdir = join(B.dir, 'stapdir-hostile');
    expect((await trust(B, stapdir, { ip: A.ip, port: s.port })).exitCode).toBe(0);
    const good = await B.exec(['stap', `--use-server=${A.ip}:${s.port}`, '-r', REL, '-p1', '-e', 'probe begin { printf("still here\\n"); exit() }'], {
      env: clientEnv(stapdir),
    });
    expect(good.exitCode, good.stderr).toBe(0);
    expect(good.stdout).toContain('still here');
    const log = readFileSync(s.log, 'utf8');
    expect(log).toContain('Error size of (compressed) request file is too large');
    expect(log).toContain('Invalid request size: negative value');
    expect(log).toContain('Expected 1000 bytes, got 10 while reading client request from socket');
    expect(log).toContain('Uncompressed request size of 2000000 bytes is not within the expected range of 1 to 1000000 bytes.');
    rmSync(join(B.dir, 'stapdir-hostile'), { recursive: true, force: true });
  }, 180_000);
});

describe('concurrency', () => {
  it('16 real clients at once with --max-threads 4 all get their own correct answer', async () => {
    const s = await server('conc', ['-r', REL, '--max-threads', '4']);
    const stapdir = join(B.dir, 'stapdir-conc');
    expect((await trust(B, stapdir, { ip: A.ip, port: s.port })).exitCode).toBe(0);
    const runs = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        B.exec(['stap', `--use-server=${A.ip}:${s.port}`, '-r', REL, '-p1', '-e', `probe begin { printf("client %d of 16\\n", ${i + 100}); exit() }`], {
          env: clientEnv(stapdir),
          timeoutMs: 120_000,
        }),
      ),
    );
    runs.forEach((r, i) => {
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^# parse tree dump$/m);
      expect(r.stdout).toContain(`printf("client %d of 16\\\\n", ${i + 100});`);
      for (let j = 0; j < 16; j++) if (j !== i) expect(r.stdout).not.toContain(`, ${j + 100})`);
    });
    expect(readFileSync(s.log, 'utf8').match(/complete \(rc 0,/g)).toHaveLength(16);
  }, 180_000);

  it('never runs more than --max-threads compiles at once, and queues the rest', async () => {
    const dir = serverDir(A, 'conc-fake');
    const record = join(dir, 'runs.txt');
    writeFileSync(record, '');
    chmodSync(record, 0o666);
    const s = await server('conc-fake', ['-r', REL, '--max-threads', '4', '--stap', fakeStap(dir, { sleepMs: 400, record })]);
    const input = JSON.stringify({
      host: A.ip,
      port: s.port,
      parallel: true,
      cases: Array.from({ length: 12 }, (_, i) => ({ name: `c${i}`, payload: frame(goodRequest(REL, ['-p2', `-eprobe begin { exit() } # ${i}`])).toString('base64') })),
    });
    const r = await B.exec([process.execPath, RAW_CLIENT], { input, timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Array<{ response: string }>;
    for (const o of out) expect((await readZip(Buffer.from(o.response, 'base64'))).get('rc')?.toString()).toBe('0');
    // Replay the start/end events: the number running at once peaks at exactly 4.
    const events = readFileSync(record, 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string]);
    events.sort((a, b) => Number(BigInt(a[1]) - BigInt(b[1])));
    let running = 0;
    let peak = 0;
    for (const [kind] of events) {
      running += kind === 'start' ? 1 : -1;
      peak = Math.max(peak, running);
    }
    expect(events).toHaveLength(24);
    expect(peak).toBe(4);
  }, 120_000);
});
