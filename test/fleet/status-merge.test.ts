import { describe, expect, it } from 'vitest';
import { mergeHostStatus, parseRemoteStatus } from '../../src/fleet/commands/status-merge.js';
import type { RemoteServer } from '../../src/fleet/commands/status-merge.js';
import { summarise } from '../../src/fleet/commands/status.js';
import { renderStatus } from '../../src/fleet/output/render.js';
import { makeStyle } from '../../src/fleet/output/style.js';
import type { Advertisement, DiscoveredHost } from '../../src/fleet/targets/discovery.js';
import type { HostTarget } from '../../src/fleet/transport/types.js';

const target: HostTarget = { name: 'h1', hostname: '10.0.0.1', port: 22, source: 'cli' };
const server = (over: Partial<RemoteServer>): RemoteServer => ({
  pid: 100, state: 'running', nickname: 'n', arch: 'x86_64', releases: ['6.1.0-56-amd64'], user: 'stap-server',
  port: 5000, configuredPort: '', certinfo: '00:11:22:33:44', sslDir: '/s', log: '/l', include: [], define: [], build: [],
  runtime: '', maxThreads: '', maxRequestSize: '', maxCompressedRequest: '', statFile: '/run/100.stat', ...over,
});
const ad = (over: Partial<Advertisement> & { txt?: Record<string, string> }): Advertisement => ({
  kind: 'server', instance: 'Systemtap Compile Server on h1', srvHost: 'h1.local', host: 'h1', port: 5000,
  addresses: ['10.0.0.1'], ...over, txt: { sysinfo: '6.1.0-56-amd64 x86_64', optinfo: '', version: '4.8', certinfo: '00:11:22:33:44', ...over.txt },
});
const disc = (servers: Advertisement[], agent = true): DiscoveredHost => ({
  name: 'h1', addresses: ['10.0.0.1'], sshPort: 22, servers,
  agent: agent ? { kind: 'agent', instance: 'h1 agent', srvHost: 'h1.local', host: 'h1', port: 22, addresses: ['10.0.0.1'], txt: { version: '0.1.0', servers: String(servers.length) } } : undefined,
});
const ok = <T>(value: T) => ({ target, category: 'ok' as const, value, durationMs: 12 });

describe('status merge', () => {
  it('classifies running+advertised, running not advertised, advertised not running, dead', () => {
    const remote = { exitCode: 0, servers: [
      server({ pid: 1, port: 5000, certinfo: '00:11:22:33:44' }),
      server({ pid: 2, port: 5001, certinfo: '00:aa:bb:cc:dd' }),
      server({ pid: 3, state: 'dead', port: 5002, certinfo: '00:00:00:00:03' }),
    ] };
    const ads = [ad({}), ad({ instance: 'other', port: 6000, txt: { certinfo: '00:99:99:99:99' } })];
    const h = mergeHostStatus(target, ok(remote), disc(ads));
    expect(h.servers.map((s) => [s.pid ?? null, s.verdict])).toEqual([
      [1, 'running-advertised'],
      [2, 'running-not-advertised'],
      [3, 'dead'],
      [null, 'advertised-not-running'],
    ]);
    expect(h.agent?.txt.version).toBe('0.1.0');
  });
  it('matches an advertisement by certinfo even when the port differs, and by port without certinfo', () => {
    const h = mergeHostStatus(target, ok({ exitCode: 0, servers: [server({ port: 7000 }), server({ pid: 9, port: 7001, certinfo: '' })] }),
      disc([ad({ port: 1234 }), ad({ instance: 'b', port: 7001, txt: { certinfo: 'ff:ff:ff:ff:ff' } })]));
    expect(h.servers.map((s) => s.verdict)).toEqual(['running-advertised', 'running-advertised']);
  });
  it('a dead server never claims an advertisement', () => {
    const h = mergeHostStatus(target, ok({ exitCode: 1, servers: [server({ state: 'dead' })] }), disc([ad({})]));
    expect(h.servers.map((s) => s.verdict)).toEqual(['dead', 'advertised-not-running']);
  });
  it('an unreachable host keeps its category and lists what it advertises', () => {
    const h = mergeHostStatus(target, { target, category: 'unreachable', shortMessage: 'h1: cannot connect to 10.0.0.1:22: ECONNREFUSED', durationMs: 3 }, disc([ad({})]));
    expect(h.category).toBe('unreachable');
    expect(h.servers.map((s) => s.verdict)).toEqual(['advertised']);
  });
  it('a host with no servers and no advertisement is listed, and rendered', () => {
    const none = mergeHostStatus({ ...target, name: 'h2' }, ok({ exitCode: 3, servers: [] }), undefined);
    const bad = mergeHostStatus({ ...target, name: 'h3' }, { target, category: 'hostkey', shortMessage: 'h3: HOST KEY MISMATCH', durationMs: 1 }, undefined);
    const good = mergeHostStatus(target, ok({ exitCode: 0, servers: [server({})] }), disc([ad({})]));
    const doc = summarise([good, none, bad], false);
    expect(doc.exitCode).toBe(7);
    expect(doc.summary).toMatchObject({ hosts: 3, ok: 2, hostkey: 1, servers: 1, running: 1 });
    const text = renderStatus(doc, makeStyle({ isTTY: false }));
    expect(text).toMatch(/^h1\s+running, advertised\s+100\s+n\s+5000\s+6\.1\.0-56-amd64\s+x86_64\s+00:11:22:33:44$/m);
    expect(text).toMatch(/^h2\s+no servers$/m);
    expect(text).toMatch(/^h3\s+host key refused: h3: HOST KEY MISMATCH$/m);
  });
  it('parses the stap-server status --json document and explains other output', () => {
    const doc = parseRemoteStatus(JSON.stringify({ servers: [server({})], exitCode: 0 }));
    expect(doc.servers[0]!.pid).toBe(100);
    expect(() => parseRemoteStatus('sh: 1: stap-server: not found')).toThrow(/did not print JSON: sh: 1: stap-server: not found/);
    expect(() => parseRemoteStatus('{"x":1}')).toThrow(/without a "servers" array/);
  });
});
