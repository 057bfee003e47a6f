/**
 * The daemon contract (docs/serverd.md): readiness on fd 3, process title, root refusal, log lines,
 * certificate files, SIGTERM. Loopback in the root namespace only: our daemon never multicasts.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { certinfoOf } from '../../../src/trust/cert.js';
import { startLocalDaemon, stapServerIds, serverScratch, rawTls, readZip, installedRelease, type LocalDaemon } from './helpers/daemon.js';
import { frame, goodRequest } from './helpers/zip.js';

const ids = stapServerIds();
let scratch: string;
const daemons: LocalDaemon[] = [];

function envFor(home: string): NodeJS.ProcessEnv {
  const { SYSTEMTAP_DIR: _drop, ...rest } = process.env;
  return { ...rest, HOME: home, USER: 'stap-server', LOGNAME: 'stap-server' };
}

async function start(args: string[], opts: { asRoot?: boolean; env?: NodeJS.ProcessEnv; fd3?: boolean } = {}): Promise<LocalDaemon> {
  const d = await startLocalDaemon(args, {
    ...(opts.asRoot ? {} : ids),
    env: opts.env ?? envFor(scratch),
    fd3: opts.fd3,
  });
  daemons.push(d);
  return d;
}

beforeAll(() => {
  scratch = serverScratch('sf-serverd-', ids);
});
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  rmSync(scratch, { recursive: true, force: true });
});

describe('stap-serverd daemon contract', () => {
  it('reports READY on fd 3, shows as stap-serverd in ps -e, logs like stap-serverd, exits 0 on SIGTERM', async () => {
    const ssl = join(scratch, 'ssl1');
    const log = join(scratch, 'log1');
    const d = await start(['--ssl', ssl, '--log', log, '--max-threads=3', '-r', installedRelease()]);
    expect(d.ready.line).toMatch(/^READY port=\d+ certinfo=00(:[0-9a-f]{2}){4}$/);
    expect(d.ready.certinfo).toBe(certinfoOf(readFileSync(join(ssl, 'stap.cert'))));
    expect(statSync(join(ssl, 'stap.cert')).mode & 0o777).toBe(0o644);
    expect(statSync(join(ssl, 'stap.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(ssl, 'stap.key')).uid).toBe(ids.uid);

    const ps = execFileSync('ps', ['-e', '-o', 'pid=,comm=']).toString();
    expect(ps).toMatch(new RegExp(`^\\s*${d.child.pid} stap-serverd$`, 'm'));
    expect(readFileSync(`/proc/${d.child.pid}/comm`, 'utf8').trim()).toBe('stap-serverd');

    // The port answers TLS, and the trust probe (length 0) gets the connection closed without a reply.
    const probe = await rawTls('127.0.0.1', d.ready.port!, Buffer.alloc(4));
    expect(probe.closed).toBe(true);
    expect(probe.response.length).toBe(0);
    const v6 = await rawTls('::1', d.ready.port!, Buffer.alloc(4)); // dual-stack [::]
    expect(v6.closed).toBe(true);

    const { code, signal } = await d.stop();
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const text = readFileSync(log, 'utf8');
    const stamp = '[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}: ';
    expect(text).toMatch(new RegExp(`^${stamp}===== compile server pid ${d.child.pid} starting as stap-server =====$`, 'm'));
    expect(text).toMatch(new RegExp(`^${stamp}Using network address \\[::\\]:${d.ready.port}$`, 'm'));
    expect(text).toMatch(new RegExp(`^${stamp}Using a maximum of 3 threads$`, 'm'));
    expect(text).toMatch(new RegExp(`^${stamp}Accepted connection from \\[::ffff:127\\.0\\.0\\.1\\]:\\d+$`, 'm'));
    expect(text).toMatch(new RegExp(`^${stamp}Received signal 15, exiting$`, 'm'));
    expect(text.trimEnd().split('\n').every((l) => new RegExp(`^${stamp}`).test(l))).toBe(true);
  });

  it('reuses a valid certificate on restart and keeps certinfo', async () => {
    const ssl = join(scratch, 'ssl2');
    const a = await start(['--ssl', ssl, '--port', '0']);
    await a.stop();
    const b = await start(['--ssl', ssl]);
    expect(b.ready.certinfo).toBe(a.ready.certinfo);
    await b.stop();
  });

  it('refuses to run as root unless STAP_PR11197_OVERRIDE is set', async () => {
    const { STAP_PR11197_OVERRIDE: _o, ...env } = process.env;
    const d = await start(['--ssl', join(scratch, 'rootssl')], { asRoot: true, env });
    expect(d.ready.line).toBe('ERROR For security reasons, invocation of stap-serverd as root is not supported.');
    expect((await d.exit).code).toBe(1);
    expect(d.stderr()).toContain('For security reasons, invocation of stap-serverd as root is not supported.');
    expect(existsSync(join(scratch, 'rootssl'))).toBe(false);
  });

  it('reports ERROR on fd 3 and exits 1 when the port is taken or an option is bad', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '::', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const d = await start(['--ssl', join(scratch, 'ssl3'), '--port', String(port)]);
    expect(d.ready.line).toMatch(/^ERROR Unable to start a systemtap server: cannot listen on port \d+: .*EADDRINUSE/);
    expect((await d.exit).code).toBe(1);
    blocker.close();
    const bad = await start(['--port=abc']);
    expect(bad.ready.line).toBe("ERROR cannot parse number '--port=abc'");
    expect((await bad.exit).code).toBe(1);
  });

  it('runs without a readiness pipe (fd 3 belongs to libuv then) and still serves', async () => {
    const log = join(scratch, 'log4');
    const d = await start(['--ssl', join(scratch, 'ssl4'), '--log', log], { fd3: false });
    let port = 0;
    for (let i = 0; i < 100 && !port; i++) {
      const m = existsSync(log) ? /Using network address \[::\]:(\d+)/.exec(readFileSync(log, 'utf8')) : null;
      if (m) port = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(port).toBeGreaterThan(0);
    expect((await rawTls('127.0.0.1', port, Buffer.alloc(4))).closed).toBe(true);
    expect(await d.stop()).toEqual({ code: 0, signal: null });
  });

  it('re-checks its certificate after each request and regenerates a broken one', async () => {
    const ssl = join(scratch, 'ssl5');
    const log = join(scratch, 'log5');
    const rel = installedRelease();
    const d = await start(['--ssl', ssl, '--log', log, '-r', rel]);
    writeFileSync(join(ssl, 'stap.cert'), 'not a certificate');
    const r = await rawTls('127.0.0.1', d.ready.port!, frame(goodRequest(rel, ['-p1', '-eprobe begin { exit() }'])));
    const files = await readZip(r.response);
    expect(files.get('rc')?.toString()).toBe('0');
    for (let i = 0; i < 100 && !/Now serving certificate/.test(readFileSync(log, 'utf8')); i++) await new Promise((res) => setTimeout(res, 100));
    const fresh = certinfoOf(readFileSync(join(ssl, 'stap.cert')));
    expect(fresh).not.toBe(d.ready.certinfo);
    expect(readFileSync(log, 'utf8')).toContain(`Now serving certificate ${fresh}`);
    // New connections get the new certificate.
    const { connect } = await import('node:tls');
    const served = await new Promise<string>((ok) => {
      const s = connect({ host: '127.0.0.1', port: d.ready.port!, rejectUnauthorized: false }, () => {
        ok(certinfoOf(s.getPeerX509Certificate()!.raw));
        s.destroy();
      });
    });
    expect(served).toBe(fresh);
  });
});

describe('response cache', () => {
  it('answers an identical request from the cache, byte for byte, and misses when the request differs', async () => {
    const rel = installedRelease();
    const log = join(scratch, 'log6');
    const d = await start(['--ssl', join(scratch, 'ssl6'), '--log', log, '-r', rel]);
    const req = (script: string) => frame(goodRequest(rel, ['-p2', `-e${script}`]));
    const first = await readZip((await rawTls('127.0.0.1', d.ready.port!, req('probe begin { exit() }'))).response);
    const second = await readZip((await rawTls('127.0.0.1', d.ready.port!, req('probe begin { exit() }'))).response);
    const other = await readZip((await rawTls('127.0.0.1', d.ready.port!, req('probe end { exit() }'))).response);
    expect(first.get('rc')?.toString()).toBe('0');
    expect([...second.keys()].sort()).toEqual([...first.keys()].sort());
    for (const [k, v] of first) expect(second.get(k)?.equals(v), k).toBe(true);
    expect(other.get('stdout')?.toString()).toContain('end');
    const completed = (): string[] => readFileSync(log, 'utf8').split('\n').filter((l) => l.includes(' complete (rc'));
    // The line is written once the reply is out, so it may trail the client by a moment.
    for (let i = 0; i < 50 && completed().length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    const lines = completed();
    expect(lines).toHaveLength(3);
    expect(lines[0]).not.toContain('cached');
    expect(lines[1]).toContain('rc 0, cached');
    expect(lines[2]).not.toContain('cached');
    await d.stop();
    // --response-cache 0 turns it off.
    const log7 = join(scratch, 'log7');
    const off = await start(['--ssl', join(scratch, 'ssl6'), '--log', log7, '-r', rel, '--response-cache', '0']);
    await rawTls('127.0.0.1', off.ready.port!, req('probe begin { exit() }'));
    await rawTls('127.0.0.1', off.ready.port!, req('probe begin { exit() }'));
    expect(readFileSync(log7, 'utf8')).not.toContain('cached');
  });
});

describe('stap failures', () => {
  it('answers rc 1 with the reason when stap cannot be started or runs past --compile-timeout', async () => {
    const rel = installedRelease();
    const missing = await start(['--ssl', join(scratch, 'ssl8'), '-r', rel, '--stap', '/nonexistent/stap']);
    const a = await readZip((await rawTls('127.0.0.1', missing.ready.port!, frame(goodRequest(rel, ['-p2', '-eprobe begin {}'])))).response);
    expect(a.get('rc')?.toString()).toBe('1');
    expect(a.get('stderr')?.toString()).toMatch(/^Server: Failed spawning translator \/nonexistent\/stap: .*ENOENT/m);
    await missing.stop();

    const slow = join(scratch, 'slow-stap');
    writeFileSync(slow, '#!/bin/sh\nsleep 30\n', { mode: 0o755 });
    const d = await start(['--ssl', join(scratch, 'ssl8'), '-r', rel, '--stap', slow, '--compile-timeout', '1']);
    const t0 = Date.now();
    const b = await readZip((await rawTls('127.0.0.1', d.ready.port!, frame(goodRequest(rel, ['-p2', '-eprobe begin {}'])))).response);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(b.get('rc')?.toString()).toBe('1');
    expect(b.get('stderr')?.toString()).toBe('Server: compilation timed out after 1 s\n');
  });
});

describe('stap environment', () => {
  it('runs stap with glibc.malloc.hugetlb=1 unless --no-huge-pages, and the client sees stap\'s own output', async () => {
    const rel = installedRelease();
    const envStap = join(scratch, 'env-stap');
    writeFileSync(envStap, '#!/bin/sh\necho "tunables=${GLIBC_TUNABLES-unset}"\n', { mode: 0o755 });
    const ask = async (extra: string[]): Promise<string | undefined> => {
      const d = await start(['--ssl', join(scratch, 'ssl8'), '-r', rel, '--stap', envStap, '--response-cache', '0', ...extra]);
      const z = await readZip((await rawTls('127.0.0.1', d.ready.port!, frame(goodRequest(rel, ['-p2', '-eprobe begin {}'])))).response);
      await d.stop();
      return z.get('stdout')?.toString();
    };
    expect(await ask([])).toBe('tunables=glibc.malloc.hugetlb=1\n');
    expect(await ask(['--no-huge-pages'])).toBe('tunables=unset\n');
  });
});

describe('self trust', () => {
  it("adds stap.cert to the server user's client trust database (P,P,P), as stap-serverd does", async () => {
    const home = serverScratch('sf-serverd-home-', ids);
    try {
      const d = await start(['--ssl', join(home, 'ssl')], { env: envFor(home) });
      const db = join(home, '.systemtap', 'ssl', 'client');
      let listing = '';
      for (let i = 0; i < 100 && !/stap-server\s+P,P,P/.test(listing); i++) {
        await new Promise((r) => setTimeout(r, 100));
        try {
          listing = execFileSync('certutil', ['-L', '-d', `sql:${db}`]).toString();
        } catch {
          /* not created yet */
        }
      }
      expect(listing).toMatch(/^stap-server\s+P,P,P$/m);
      const pem = execFileSync('certutil', ['-L', '-d', `sql:${db}`, '-n', 'stap-server', '-r']);
      expect(pem.equals(readFileSync(join(home, 'ssl', 'stap.cert')))).toBe(true);
      expect(statSync(join(db, 'cert9.db')).uid).toBe(ids.uid);
      await d.stop();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('resilience', () => {
  it('survives a temporary directory it cannot use: those clients lose their connection, the server keeps serving', async () => {
    const rel = installedRelease();
    const log = join(scratch, 'log9');
    const d = await start(['--ssl', join(scratch, 'ssl9'), '--log', log, '-r', rel, '--tmpdir', '/nonexistent/sf-tmp', '--max-compressed-request', '100']);
    const big = await rawTls('127.0.0.1', d.ready.port!, frame(goodRequest(rel, ['-p2', `-eprobe begin { ${'x'.repeat(500)} }`])));
    const small = await rawTls('127.0.0.1', d.ready.port!, frame(Buffer.alloc(50)));
    for (const r of [big, small]) {
      expect(r.closed).toBe(true);
      expect(r.response.length).toBe(0);
    }
    expect((await rawTls('127.0.0.1', d.ready.port!, Buffer.alloc(4))).closed).toBe(true);
    expect(d.child.exitCode).toBeNull();
    expect(readFileSync(log, 'utf8')).toMatch(/Error processing client request: ENOENT/);
    expect(await d.stop()).toEqual({ code: 0, signal: null });
  });
});
