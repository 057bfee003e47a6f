/**
 * Seed 6.2: the whole test sequence on real daemons, three servers from conf.d, checking output, exit
 * code and status files at each step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { certinfoOf } from '../../../src/trust/cert.js';
import { ensureUser, isLiveServer, removeUser, makeWorld, type World } from './helpers.js';

const USER = 'sfsvcseq';
let w: World;

beforeAll(() => {
  w = makeWorld({ user: USER, tag: 'seq' });
  ensureUser(USER, join(w.dir, 'home'));
  for (const n of ['a', 'b', 'c']) w.conf(`${n}.conf`, `NICKNAME=${n}\n`);
});
afterAll(async () => {
  await w.cleanup();
  removeUser(USER);
});

/** Nickname -> pid from the status files, checking each file's layout. */
function serversByNickname(): Map<string, number> {
  const m = new Map<string, number>();
  for (const pid of w.pids()) {
    const lines = w.statText(pid).trimEnd().split('\n');
    expect(lines.map((l) => l.replace(/\+?=.*/, ''))).toEqual([
      'ARCH', 'USER', 'NICKNAME', 'RUNTIME', 'RELEASE', 'LOG', 'PORT', 'SSL', 'MAXTHREADS', 'MAXREQSIZE', 'MAXCOMPRESSEDREQ',
    ]);
    expect(lines).toContain(`USER=${USER}`);
    expect(lines).toContain(`LOG=${w.logFile}`);
    expect(isLiveServer(pid)).toBe(true);
    const side = JSON.parse(readFileSync(join(w.stat, `.${pid}.stap-fleet.json`), 'utf8'));
    expect(side.pid).toBe(pid);
    expect(side.certinfo).toMatch(/^([0-9a-f]{2}:){4}[0-9a-f]{2}$/);
    m.set(lines.find((l) => l.startsWith('NICKNAME='))!.slice(9), pid);
  }
  return m;
}

/** Servers sharing the default certificate directory all serve the certificate that is on disk. */
function expectSharedCertificate(): void {
  const onDisk = certinfoOf(readFileSync(join(w.dir, 'home', '.systemtap', 'ssl', 'server', 'stap.cert')));
  for (const pid of w.pids()) {
    expect(JSON.parse(readFileSync(join(w.stat, `.${pid}.stap-fleet.json`), 'utf8')).certinfo).toBe(onDisk);
  }
}

function expectStartLines(stdout: string): void {
  const lines = stdout.trimEnd().split('\n').filter((l) => l.startsWith('Starting'));
  expect(lines).toHaveLength(3);
  ['a', 'b', 'c'].forEach((n, i) =>
    expect(lines[i]).toMatch(new RegExp(`^Starting stap-server -a "\\S+" -r "\\S+" -u "${USER}" -n "${n}" --log "${w.logFile}" OK$`)),
  );
}

function expectStopLines(stdout: string, before: Map<string, number>): void {
  const lines = stdout.split('\n').filter((l) => l.startsWith('Stopping'));
  expect(lines).toHaveLength(3);
  for (const [n] of before) expect(lines.some((l) => l.includes(`-n "${n}"`) && l.endsWith(' OK'))).toBe(true);
}

async function expectStatusRunning(): Promise<Map<string, number>> {
  const r = await w.cli(['status']);
  expect(r.exitCode).toBe(0);
  const servers = serversByNickname();
  expect([...servers.keys()].sort()).toEqual(['a', 'b', 'c']);
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines).toHaveLength(3);
  for (const [n, pid] of servers) expect(lines).toContain(lines.find((l) => l.includes(`-n "${n}"`) && l.endsWith(`running as PID ${pid}`)));
  return servers;
}

describe('seed 6.2 test sequence with three conf.d servers', () => {
  it('start, status, restart, status, condrestart, status, force-reload, status, stop, status, condrestart, status', async () => {
    // start
    let r = await w.cli(['start']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expectStartLines(r.stdout);
    let servers = await expectStatusRunning();
    expectSharedCertificate();

    // restart: every server stopped, then started again (new pids, same nicknames)
    r = await w.cli(['restart']);
    expect(r.exitCode).toBe(0);
    expectStopLines(r.stdout, servers);
    expect(r.stdout).toContain('\n\n');
    expectStartLines(r.stdout);
    let after = await expectStatusRunning();
    for (const [n, pid] of servers) {
      expect(after.get(n)).not.toBe(pid);
      expect(isLiveServer(pid)).toBe(false);
    }
    servers = after;

    // condrestart: the running ones restart
    r = await w.cli(['condrestart']);
    expect(r.exitCode).toBe(0);
    expectStopLines(r.stdout, servers);
    expectStartLines(r.stdout);
    after = await expectStatusRunning();
    for (const [n, pid] of servers) expect(after.get(n)).not.toBe(pid);
    servers = after;

    // force-reload: stop all, re-read config, start
    r = await w.cli(['force-reload']);
    expect(r.exitCode).toBe(0);
    expectStopLines(r.stdout, servers);
    expectStartLines(r.stdout);
    after = await expectStatusRunning();
    for (const [n, pid] of servers) expect(after.get(n)).not.toBe(pid);
    servers = after;

    // stop
    r = await w.cli(['stop']);
    expect(r.exitCode).toBe(0);
    expectStopLines(r.stdout, servers);
    expect(w.statFiles()).toEqual([]);
    for (const pid of servers.values()) expect(isLiveServer(pid)).toBe(false);

    // status: nothing runs
    r = await w.cli(['status']);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('No managed stap-server is running\n');

    // condrestart never starts anything
    r = await w.cli(['condrestart']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('No managed stap-server is running\n');
    expect(w.statFiles()).toEqual([]);

    // last status: no server
    r = await w.cli(['status']);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('No managed stap-server is running\n');
    expect(w.statFiles()).toEqual([]);

    // the script logged what it did, and the servers logged their start and SIGTERM
    const log = readFileSync(w.logFile, 'utf8');
    expect(log).toMatch(/^\w{3} [ \d]\d \d\d:\d\d:\d\d: Pass: start -c /m);
    expect(log).toContain('Received signal 15, exiting');
  });
});
