/**
 * Status files interoperate with SystemTap 4.8's own script (/usr/bin/stap-server) on one STAT_PATH.
 * Their stap-serverd advertises over Avahi when it can, so everything runs inside a LAN host namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chownSync, mkdirSync, mkdtempSync, chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { release } from 'node:os';
import { createLan, type Lan } from '../../lan/index.js';
import { CLI } from './helpers.js';

let lan: Lan;
let T: string;
let G: string;
const REL = '6.1.0-56-amd64';

const ENV = { STAP_SERVER_CONFIG_FILE: '/nonexistent/global', STAP_FLEET_AGENT: 'off' };
const ours = (args: string[]) => lan.hosts[0]!.exec([process.execPath, CLI, ...args, '-c', G], { env: ENV, timeoutMs: 60_000 });
const theirs = (args: string[]) => lan.hosts[0]!.exec(['/usr/bin/stap-server', ...args, '-c', G], { timeoutMs: 60_000 });
const pids = () => readdirSync(join(T, 'stat')).filter((f) => /^\d+\.stat$/.test(f)).map((f) => Number(f.slice(0, -5))).sort();

beforeAll(async () => {
  lan = await createLan({ hosts: 1, tag: 'svci' });
  T = mkdtempSync('/tmp/sf-svc-interop-');
  chmodSync(T, 0o755);
  mkdirSync(join(T, 'conf.d'));
  mkdirSync(join(T, 'log'));
  const uid = Number(execFileSync('id', ['-u', 'stap-server'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'stap-server'], { encoding: 'utf8' }));
  chownSync(join(T, 'log'), uid, gid);
  G = join(T, 'global.conf');
  writeFileSync(G, `CONFIG_PATH=${T}/conf.d\nSTAT_PATH=${T}/stat\nLOG_FILE=${T}/log/wrapper.log\nSTAP_USER=stap-server\n`);
}, 120_000);

afterAll(async () => {
  await lan?.destroy();
  if (T) rmSync(T, { recursive: true, force: true });
});

describe('interoperability with SystemTap 4.8 stap-server on one STAT_PATH', () => {
  it('their status sees our server running, ours sees theirs; either stop handles both', async () => {
    const t = await theirs(['start', '-r', REL, '--port', '7791', '--log', `${T}/log/theirs.log`]);
    expect(t.exitCode, t.stdout + t.stderr).toBe(0);
    const [theirPid] = pids();
    expect(theirPid).toBeGreaterThan(0);

    const o = await ours(['start', '-r', REL, '-n', 'ours', '--log', `${T}/log/ours.log`]);
    expect(o.exitCode, o.stdout + o.stderr).toBe(0);
    const ourPid = pids().find((p) => p !== theirPid)!;
    expect(readFileSync(join(T, 'stat', `${ourPid}.stat`), 'utf8')).toContain('NICKNAME=ours');

    // SystemTap's status reads our .stat file and finds our daemon alive (comm stap-serverd)
    const ts = await theirs(['status']);
    expect(ts.exitCode, ts.stdout).toBe(0);
    expect(ts.stdout).toContain(`-r "${REL}" -u "stap-server" -n "ours" --log "${T}/log/ours.log" running as PID ${ourPid}`);
    expect(ts.stdout).toContain(`-n "${theirPid}" --log "${T}/log/theirs.log" --port "7791" running as PID ${theirPid}`);
    // and selects ours by its options (their -n/-p would search the default STAT_PATH, a 4.8 bug)
    const tsel = await theirs(['status', '-r', REL, '-u', 'stap-server', '--log', `${T}/log/ours.log`]);
    expect(tsel.exitCode, tsel.stdout).toBe(0);
    expect(tsel.stdout).toBe(`stap-server -a "x86_64" -r "${REL}" -u "stap-server" -n "ours" --log "${T}/log/ours.log" running as PID ${ourPid}\n`);

    // our status reads their .stat (no sidecar) and checks their process
    const os = await ours(['status', '--json']);
    expect(os.exitCode, os.stderr).toBe(0);
    const doc = JSON.parse(os.stdout);
    const byPid = new Map(doc.servers.map((s: { pid: number }) => [s.pid, s]));
    expect(byPid.get(theirPid)).toMatchObject({ state: 'running', configuredPort: '7791', port: 7791, releases: [REL], nickname: String(theirPid), certinfo: null });
    expect(byPid.get(ourPid)).toMatchObject({ state: 'running', nickname: 'ours', releases: [REL] });
    const ot = await ours(['status', '-p', String(theirPid)]);
    expect(ot.exitCode).toBe(0);
    expect(ot.stdout).toContain(`--port "7791" running as PID ${theirPid}`);

    // a server their script starts without -r records no RELEASE line but serves the running kernel
    const t2 = await theirs(['start', '-u', 'stap-server', '--port', '7792', '--log', `${T}/log/theirs2.log`]);
    expect(t2.exitCode, t2.stdout + t2.stderr).toBe(0);
    const theirPid2 = pids().find((p) => p !== theirPid && p !== ourPid)!;
    expect(readFileSync(join(T, 'stat', `${theirPid2}.stat`), 'utf8')).not.toContain('RELEASE');
    const os2 = await ours(['status', '-u', 'stap-server', '--port', '7792', '--log', `${T}/log/theirs2.log`]);
    expect(os2.exitCode, os2.stdout).toBe(0);
    expect(os2.stdout).toBe(`stap-server -a "x86_64" -r "${release()}" -u "stap-server" -n "${theirPid2}" --log "${T}/log/theirs2.log" --port "7792" running as PID ${theirPid2}\n`);
    const os2stop = await ours(['stop', '-p', String(theirPid2)]);
    expect(os2stop.exitCode, os2stop.stderr).toBe(0);
    expect(pids()).not.toContain(theirPid2);

    // their stop stops ours (it only needs the .stat file and a stap-serverd process)
    const tstop = await theirs(['stop', '-r', REL, '-u', 'stap-server', '--log', `${T}/log/ours.log`]);
    expect(tstop.exitCode, tstop.stdout + tstop.stderr).toBe(0);
    expect(pids()).toEqual([theirPid]);

    // our stop stops theirs
    const ostop = await ours(['stop']);
    expect(ostop.exitCode, ostop.stderr).toBe(0);
    expect(ostop.stdout).toBe(`Stopping stap-server -a "x86_64" -r "${REL}" -u "stap-server" -n "${theirPid}" --log "${T}/log/theirs.log" --port "7791" OK\n`);
    expect(pids()).toEqual([]);
    const final = await theirs(['status']);
    expect(final.exitCode).toBe(3);
    expect(final.stdout).toContain('No managed stap-server is running');
  });
});
