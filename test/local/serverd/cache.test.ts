import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ResponseCache, asksVerbose, requestKey, serverFingerprint, snapshotDir, restoreDir } from '../../../src/local/serverd/cache.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'sf-cache-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('response cache', () => {
  it('bounds entries (LRU), bytes and age', () => {
    let now = 0;
    const c = new ResponseCache({ maxEntries: 2, maxBytes: 1000, ttlMs: 100 }, () => now);
    const f = (n: number) => [{ path: 'stdout', data: Buffer.alloc(n), mode: 0o600, dir: false }];
    c.set('a', f(10), 0);
    c.set('b', f(10), 0);
    expect(c.get('a')).toBeDefined(); // a is now most recent
    c.set('c', f(10), 0);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBeDefined();
    c.set('big', f(400), 0); // > maxBytes/4: never stored
    expect(c.get('big')).toBeUndefined();
    now = 200;
    expect(c.get('a')).toBeUndefined();
    expect(new ResponseCache({ maxEntries: 0, maxBytes: 1, ttlMs: 1 }).enabled).toBe(false);
  });

  it('keys on every byte of the request and on the server fingerprint', () => {
    const d = tmp();
    writeFileSync(join(d, 'argv1'), '-p2');
    mkdirSync(join(d, 'script'));
    writeFileSync(join(d, 'script', 'x.stp'), 'probe begin {}');
    const k1 = requestKey(d, 'fp');
    expect(requestKey(d, 'fp')).toBe(k1);
    expect(requestKey(d, 'other')).not.toBe(k1);
    writeFileSync(join(d, 'script', 'x.stp'), 'probe begin { }');
    expect(requestKey(d, 'fp')).not.toBe(k1);
  });

  it('fingerprints what stap reads on the server (a touched -I dir changes it)', () => {
    const d = tmp();
    const inc = join(d, 'tapset');
    mkdirSync(inc);
    const fp = () => serverFingerprint({ stap: '/usr/bin/stap', serverStapOptions: [`-I${inc}`], release: 'r', env: { PATH: '/bin' } });
    const a = fp();
    expect(fp()).toBe(a);
    utimesSync(inc, new Date(1000), new Date(2000));
    expect(fp()).not.toBe(a);
  });

  it('snapshots and restores a response tree', () => {
    const a = tmp();
    mkdirSync(join(a, 'stap000000', 'sub'), { recursive: true });
    writeFileSync(join(a, 'rc'), '0');
    writeFileSync(join(a, 'stap000000', 'sub', 'f.c'), 'int x;');
    const b = tmp();
    restoreDir(b, snapshotDir(a));
    expect(snapshotDir(b).map((f) => [f.path, f.data.toString()])).toEqual(snapshotDir(a).map((f) => [f.path, f.data.toString()]));
  });

  it('recognises verbose requests, not script text or arguments', () => {
    expect(asksVerbose(['-v'])).toBe(true);
    expect(asksVerbose(['-vvp2'])).toBe(true);
    expect(asksVerbose(['-p2v'])).toBe(false); // -p takes "2v" as its argument
    expect(asksVerbose(['--vp', '01'])).toBe(true);
    expect(asksVerbose(['-e', '-v'])).toBe(false);
    expect(asksVerbose(['-every'])).toBe(false);
    expect(asksVerbose(['script/-', '--', '-v'])).toBe(false);
  });
});
