/** ServerScanner against real processes and real status files (no network: it only reads files and /proc). */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ServerScanner } from '../../../src/local/agent/servers.js';
import { sidecarPath } from '../../../src/local/status.js';

function startFakeServerd(): Promise<ChildProcess> {
  // A live process named stap-serverd, as our daemon is (process.title).
  const c = spawn(process.execPath, ['-e', "process.title='stap-serverd'; console.log('up'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve) => c.stdout!.once('data', () => resolve(c)));
}

function ticks(pid: number): string {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ')[19]!;
}

describe('ServerScanner', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('advertises live servers with a sidecar, ignores ones without, drops dead or recycled pids, reads certinfo from stap.cert', async () => {
    const stat = mkdtempSync(join(tmpdir(), 'scan-'));
    dirs.push(stat);
    const a = await startFakeServerd();
    const b = await startFakeServerd();
    children.push(a, b);
    const ssl = join(stat, 'ssl');
    mkdirSync(ssl);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', join(ssl, 'stap.key'), '-subj', '/CN=t', '-days', '1', '-set_serial', '0xcc2401', '-outform', 'DER', '-out', join(ssl, 'stap.cert')], { stdio: 'ignore' });
    const statText = (rel: string): string => `ARCH=x86_64\nUSER=stap-server\nNICKNAME=x\nRUNTIME=\nRELEASE+=${rel}\nLOG=/l\nPORT=\nSSL=\nMAXTHREADS=\nMAXREQSIZE=\nMAXCOMPRESSEDREQ=\n`;
    const sidecar = (pid: number, port: number, extra: object = {}): string =>
      JSON.stringify({ pid, procStartTicks: ticks(pid), port, certinfo: '00:11:22', sslDir: ssl, hostname: 'h', startedAt: '', arch: 'x86_64', releases: ['r1', 'r2'], optinfo: '-DX=1', user: 'stap-server', log: '/l', ...extra });
    writeFileSync(join(stat, `${a.pid}.stat`), statText('r1'));
    writeFileSync(sidecarPath(stat, a.pid!), sidecar(a.pid!, 7001));
    writeFileSync(join(stat, `${b.pid}.stat`), statText('r9')); // no sidecar: a SystemTap stap-serverd
    writeFileSync(join(stat, '999999.stat'), statText('r0')); // dead pid
    const scanner = new ServerScanner(stat);
    let r = scanner.scan();
    expect(r.live).toEqual([{ pid: a.pid, port: 7001, arch: 'x86_64', releases: ['r1', 'r2'], optinfo: '-DX=1', certinfo: '00:cc:24:01', certinfoSource: 'cert', sslDir: ssl }]);
    expect(r.ignored).toEqual([{ pid: b.pid, reason: expect.stringContaining('no .stap-fleet.json sidecar') }]);
    // Certificate replaced: the new serial is picked up.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', join(ssl, 'k2'), '-subj', '/CN=t', '-days', '1', '-set_serial', '0x0102', '-outform', 'DER', '-out', join(ssl, 'new.cert')], { stdio: 'ignore' });
    execFileSync('mv', [join(ssl, 'new.cert'), join(ssl, 'stap.cert')]);
    expect(scanner.scan().live[0]!.certinfo).toBe('01:02');
    // No certificate file: the sidecar's certinfo.
    rmSync(join(ssl, 'stap.cert'));
    expect(scanner.scan().live[0]).toMatchObject({ certinfo: '00:11:22', certinfoSource: 'sidecar' });
    // A recycled pid (start ticks differ) is not our server.
    writeFileSync(sidecarPath(stat, a.pid!), sidecar(a.pid!, 7001, { procStartTicks: '1' }));
    expect(scanner.scan().live).toEqual([]);
    writeFileSync(sidecarPath(stat, a.pid!), sidecar(a.pid!, 7001));
    expect(scanner.scan().live).toHaveLength(1);
    // Killed: gone at the next scan.
    a.kill('SIGKILL');
    await new Promise((res) => a.once('exit', res));
    r = scanner.scan();
    expect(r.live).toEqual([]);
  });

  it('reports a malformed status file with file:line and keeps going', () => {
    const stat = mkdtempSync(join(tmpdir(), 'scan-'));
    dirs.push(stat);
    writeFileSync(join(stat, '123.stat'), 'ARCH=x86_64\nrm -rf /\n');
    const r = new ServerScanner(stat).scan();
    expect(r.live).toEqual([]);
    expect(r.errors[0]).toContain(`${join(stat, '123.stat')}:2`);
  });
});
