/**
 * Acceptance (issue 3) with the real SystemTap 4.8 client: our daemon on LAN host A as stap-server,
 * `stap --use-server=A:PORT` on host B. Each -p1/-p2/-p3 run through the server must give the same
 * stdout, stderr and exit code as the same stap run locally on A. "The same run" is the command the
 * server executes: the client ships a script file as script/<abs path>, a tapset dir as
 * tapset/<abs path> and stdin as script/-, so the local reference runs in a directory with that layout
 * (stap prints those names in -p1/-p3 output, with stap-serverd exactly as with us).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, rmSync, writeFileSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createLan, waitFor, type Lan, type LanHost } from '../../lan/index.js';
import { installedRelease } from './helpers/daemon.js';
import { startLanServer, serverDir, clientEnv, trust, writeFiles, mirror, type LanServer } from './helpers/lan.js';

const REL = installedRelease();
let lan: Lan;
let A: LanHost;
let B: LanHost;
let server: LanServer;
let trusted: string;

beforeAll(async () => {
  lan = await createLan({ hosts: 2, tag: 'sdc' });
  [A, B] = lan.hosts as [LanHost, LanHost];
  server = await startLanServer(A, 'serverd', ['-r', REL, '--port', '0']);
  trusted = join(B.dir, 'stapdir-trusted');
  const t = await trust(B, trusted, { ip: A.ip, port: server.port });
  expect(t.exitCode, t.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  if (caseDir) rmSync(caseDir, { recursive: true, force: true });
  await server?.stop();
  await lan?.destroy();
});

interface Case {
  name: string;
  /** Arguments as the user types them on B (after -r/-p). */
  client: string[];
  /** Arguments of the equivalent local run on A, in a dir laid out like the request (see header). */
  local: (refDir: string) => string[];
  input?: string;
}

const scripts = '/tmp/sf-serverd-compat'; // on B; B's /tmp is the shared root /tmp, so names are unique per run
let caseDir: string;

function cases(): Case[] {
  caseDir = join(scripts, String(process.pid));
  const tapset = join(caseDir, 'tapset');
  const script = join(caseDir, 'usetap.stp');
  writeFiles({
    [join(tapset, 'greet.stp')]: 'function greeting:string (who:string) { return "greetings, " . who }\n',
    [script]: 'probe begin { printf("%s\\n", greeting("server")); exit() }\n',
  });
  const args = ['a "quoted" \'arg\'', 'semi;colon*star', 'line1\nline2'];
  const argScript = 'probe begin { printf("[%s] [%s] [%s]\\n", @1, @2, @3); exit() }';
  return [
    {
      name: 'hello',
      client: ['-e', 'probe begin { printf("Hello From Server\\n"); exit() }'],
      local: () => ['-e', 'probe begin { printf("Hello From Server\\n"); exit() }'],
    },
    {
      name: 'script file with -I tapset dir',
      client: ['-I', tapset, script],
      local: (ref) => {
        const s = mirror(ref, 'script', script);
        return ['-I', mirror(ref, 'tapset', tapset), s];
      },
    },
    {
      name: 'script on stdin',
      client: ['-'],
      input: 'probe begin { printf("from stdin %d\\n", 6 * 7); exit() }\n',
      local: (ref) => {
        mkdirSync(join(ref, 'script'), { recursive: true });
        writeFileSync(join(ref, 'script', '-'), 'probe begin { printf("from stdin %d\\n", 6 * 7); exit() }\n');
        return ['script/-'];
      },
    },
    {
      name: 'arguments with quotes, ; * and newlines',
      client: ['-e', argScript, ...args],
      local: () => ['-e', argScript, ...args],
    },
  ];
}

describe('the real stap 4.8 client against our server on another host', () => {
  it('gives the same stdout, stderr and exit code as local stap for -p1, -p2, -p3', async () => {
    const all = cases();
    const mismatches: string[] = [];
    let compared = 0;
    for (const [i, c] of all.entries()) {
      const ref = join(A.dir, `ref-${i}`);
      mkdirSync(ref, { recursive: true });
      const localArgs = c.local(ref);
      for (const pass of ['-p1', '-p2', '-p3']) {
        const [remote, local] = await Promise.all([
          B.exec(['stap', `--use-server=${A.ip}:${server.port}`, '-r', REL, pass, ...c.client], { env: clientEnv(trusted), input: c.input ?? '', timeoutMs: 60_000 }),
          A.exec(['stap', '-r', REL, pass, ...localArgs], { env: clientEnv(join(A.dir, `local-stapdir-${i}`)), cwd: ref, input: '', timeoutMs: 60_000 }),
        ]);
        compared++;
        expect(remote.exitCode, `${c.name} ${pass}: ${remote.stderr}`).toBe(0);
        if (pass === '-p2') expect(remote.stdout).toMatch(/^# probes$/m);
        for (const k of ['exitCode', 'stdout', 'stderr'] as const) {
          if (remote[k] !== local[k]) mismatches.push(`${c.name} ${pass} ${k}:\n--- server\n${remote[k]}\n--- local\n${local[k]}`);
        }
      }
    }
    expect(compared).toBe(12);
    expect(mismatches).toEqual([]);
    const log = readFileSync(server.log, 'utf8');
    expect(log).toMatch(/Client version is 4\.8/);
    expect(log).toContain('Options passed from the client: script/-');
    expect(log).toMatch(/Request from \[::ffff:\d+\.\d+\.\d+\.2\]:\d+ complete \(rc 0, stap \d+ ms, \d+ ms\)/);
  }, 240_000);

  it("answers exactly like SystemTap 4.8's own stap-serverd for the same requests", async () => {
    const dir = serverDir(A, 'theirs');
    const log = join(dir, 'serverd.log');
    const theirs = A.spawn(['/usr/lib/systemtap/stap-serverd', '--port', '0', '-r', REL, `--ssl=${join(dir, 'ssl')}`, '--log', log], {
      user: 'stap-server',
      env: { SYSTEMTAP_DIR: undefined, STAP_PR11197_OVERRIDE: undefined },
    });
    try {
      const port = await waitFor(
        "stap-serverd's port",
        () => (existsSync(log) ? /Using network address \[::\]:(\d+)/.exec(readFileSync(log, 'utf8'))?.[1] : undefined),
        30_000,
      );
      const theirDir = join(B.dir, 'stapdir-theirs');
      const t = await trust(B, theirDir, { ip: A.ip, port: Number(port) });
      expect(t.exitCode, t.stderr).toBe(0);
      const mismatches: string[] = [];
      for (const c of cases()) {
        for (const pass of ['-p1', '-p2', '-p3']) {
          const run = (p: number, d: string) =>
            B.exec(['stap', `--use-server=${A.ip}:${p}`, '-r', REL, pass, ...c.client], { env: clientEnv(d), input: c.input ?? '', timeoutMs: 60_000 });
          const [ours, theirsRun] = await Promise.all([run(server.port, trusted), run(Number(port), theirDir)]);
          expect(ours.exitCode, `${c.name} ${pass}: ${ours.stderr}`).toBe(0);
          for (const k of ['exitCode', 'stdout', 'stderr'] as const) {
            if (ours[k] !== theirsRun[k]) mismatches.push(`${c.name} ${pass} ${k}:\n--- ours\n${ours[k]}\n--- stap-serverd\n${theirsRun[k]}`);
          }
        }
      }
      expect(mismatches).toEqual([]);
    } finally {
      theirs.kill('SIGTERM');
    }
  }, 240_000);

  it('reports an untrusted server with the client\'s own certificate error', async () => {
    // A client trust database that exists but does not hold our certificate.
    const fresh = join(B.dir, 'stapdir-untrusted');
    mkdirSync(join(fresh, 'ssl', 'client'), { recursive: true });
    const db = await B.exec(['certutil', '-N', '--empty-password', '-d', `sql:${join(fresh, 'ssl', 'client')}`]);
    expect(db.exitCode, db.stderr).toBe(0);
    const r = await B.exec(['stap', `--use-server=${A.ip}:${server.port}`, '-r', REL, '-p2', '-e', 'probe begin { exit() }'], { env: clientEnv(fresh) });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^Unable to connect to a server\.$/m);
    expect(r.stdout).toBe('');
    // The NSS reason is printed at -vv, as with stap-serverd.
    const v = await B.exec(['stap', '-vv', `--use-server=${A.ip}:${server.port}`, '-r', REL, '-p2', '-e', 'probe begin { exit() }'], { env: clientEnv(fresh) });
    expect(v.exitCode).toBe(1);
    expect(v.stderr).toContain('Unable to connect: (-8156 SEC_ERROR_CA_CERT_INVALID) Issuer certificate is invalid.');
    // The client's bad_certificate alert (or, when it hangs up first, the reset) is logged with its address.
    const alert = new RegExp(`TLS handshake with \\[::ffff:${B.ip.replace(/\./g, '\\.')}\\]:\\d+ failed: (ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE|ECONNRESET)`);
    await waitFor('bad-certificate alert in the server log', () => alert.test(readFileSync(server.log, 'utf8')), 10_000);
  });

  it('after the server regenerates its certificate the old trust fails, new trust works', async () => {
    const before = await B.exec(['stap', `--use-server=${A.ip}:${server.port}`, '-r', REL, '-p1', '-e', 'probe begin { exit() }'], { env: clientEnv(trusted) });
    expect(before.exitCode, before.stderr).toBe(0);
    // Restart with the certificate gone: the server makes a new one, as stap-serverd does.
    await server.stop();
    unlinkSync(join(server.ssl, 'stap.cert'));
    const old = server.certinfo;
    server = await startLanServer(A, 'serverd', ['-r', REL, '--port', String(server.port)], { dir: server.dir });
    expect(server.certinfo).not.toBe(old);
    const after = await B.exec(['stap', '-vv', `--use-server=${A.ip}:${server.port}`, '-r', REL, '-p1', '-e', 'probe begin { exit() }'], { env: clientEnv(trusted) });
    expect(after.exitCode).toBe(1);
    expect(after.stderr).toContain('Unable to connect: (-8156 SEC_ERROR_CA_CERT_INVALID) Issuer certificate is invalid.');
    expect(after.stderr).toContain('Unable to connect to a server.');
    const retrust = join(B.dir, 'stapdir-retrust');
    expect((await trust(B, retrust, { ip: A.ip, port: server.port })).exitCode).toBe(0);
    const again = await B.exec(['stap', `--use-server=${A.ip}:${server.port}`, '-r', REL, '-p1', '-e', 'probe begin { exit() }'], { env: clientEnv(retrust) });
    expect(again.exitCode, again.stderr).toBe(0);
  });
});
