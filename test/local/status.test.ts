import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { formatStat, lockStore, parseStat, StatusStore } from '../../src/local/status.js';
import { emptySpec, type ServerSpec } from '../../src/local/spec.js';
import { isServerAlive, processIdentity, stapArch } from '../../src/local/system.js';

const dir = mkdtempSync('/tmp/sf-status-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const spec = (o: Partial<ServerSpec>): ServerSpec => ({ ...emptySpec(), ...o });

describe('status files', () => {
  it('formats exactly like SystemTap 4.8 (observed file) and reads it back', () => {
    const s = spec({ arch: 'x86_64', user: 'stap-server', releases: ['6.1.0-56-amd64'], log: '/var/log/stap-server/log', port: '7778' });
    const text = formatStat(s, 13420);
    expect(text).toBe(
      'ARCH=x86_64\nUSER=stap-server\nNICKNAME=13420\nRUNTIME=\nRELEASE+=6.1.0-56-amd64\nLOG=/var/log/stap-server/log\nPORT=7778\nSSL=\nMAXTHREADS=\nMAXREQSIZE=\nMAXCOMPRESSEDREQ=\n',
    );
    expect(parseStat(text)).toEqual({ ...s, nickname: '13420' });
  });

  it('keeps values literal (quotes, spaces, #) and handles X=, X=() and X+=', () => {
    const s = spec({ build: ["'V=1 W=2'"], include: ['/a b', '/#c'], define: ['X="y"'], releases: ['r'] });
    expect(parseStat(formatStat(s, 1))).toEqual({ ...s, nickname: '1' });
    expect(parseStat('INCLUDE=/a\nINCLUDE+=/b\nDEFINE=()\nBUILD=\n').include).toEqual(['/a', '/b']);
    expect(() => parseStat('ARCH=x\nrm -rf /\n', 'f.stat')).toThrow('f.stat:2:');
    expect(() => parseStat('ARCH+=x\n', 'f.stat')).toThrow('f.stat:1:');
  });

  it('the store writes the .stat and the hidden sidecar atomically, lists, reads and removes them', () => {
    const store = new StatusStore(join(dir, 'st'));
    store.ensureDir();
    const sc = { pid: 77, procStartTicks: '5', port: 1, certinfo: '00:01:02:03:04', sslDir: '/s', hostname: 'h', startedAt: 'now', arch: 'x86_64', releases: ['r'], optinfo: '', user: 'u', log: '/l' };
    store.write(77, spec({ arch: 'x86_64', releases: ['r'], nickname: 'nick' }), sc);
    writeFileSync(join(store.dir, 'junk.txt'), 'x');
    expect(readdirSync(store.dir).sort()).toEqual(['.77.stap-fleet.json', '77.stat', 'junk.txt']);
    const [e] = store.list();
    expect(e).toMatchObject({ pid: 77, shownNickname: 'nick', sidecar: sc });
    store.remove(77);
    expect(store.list()).toEqual([]);
  });
});

describe('process identity', () => {
  it('reads comm and start ticks; a live non-server and a wrong start tick are not our server', () => {
    const me = processIdentity(process.pid)!;
    expect(me.comm.length).toBeGreaterThan(0);
    expect(me.startTicks).toMatch(/^\d+$/);
    expect(isServerAlive(process.pid)).toBe(false);
    expect(processIdentity(2 ** 22 + 1)).toBeUndefined();
  });

  it('stap_get_arch mapping', () => {
    expect(['i686', 'aarch64', 'armv7l', 'ppc64le', 's390x', 'x86_64', 'mips64', 'sh4'].map((m) => stapArch(m))).toEqual([
      'i386', 'arm64', 'arm', 'powerpc', 's390', 'x86_64', 'mips', 'sh',
    ]);
  });
});

describe('store lock', () => {
  it('is exclusive across processes and released when the holder dies', async () => {
    const d = join(dir, 'lk');
    new StatusStore(d).ensureDir();
    const first = await lockStore(d);
    let second = false;
    const p = lockStore(d).then((l) => ((second = true), l));
    await new Promise((r) => setTimeout(r, 300));
    expect(second).toBe(false);
    await first.release();
    const l2 = await p;
    expect(second).toBe(true);
    await l2.release();
    // an invocation SIGKILLed while holding the lock leaves no stale lock
    const mod = new URL('../../dist/lib/local/status.js', import.meta.url).href;
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(mod)}); await m.lockStore(${JSON.stringify(d)}); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => holder.stdout!.on('data', (b: Buffer) => b.toString().includes('held') && r()));
    let third = false;
    const p3 = lockStore(d, 5000).then((l) => ((third = true), l));
    await new Promise((r) => setTimeout(r, 200));
    expect(third).toBe(false);
    holder.kill('SIGKILL');
    const l3 = await p3;
    expect(third).toBe(true);
    await l3.release();
  });
});
