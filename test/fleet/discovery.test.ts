import { describe, expect, it } from 'vitest';
import { decodeTxt, groupByHost, hostComplete, hostMatchesFilters, matchesFilters } from '../../src/fleet/targets/discovery.js';
import type { Advertisement } from '../../src/fleet/targets/discovery.js';

const b = (s: string) => Buffer.from(s);

describe('TXT decoding', () => {
  it('keeps empty values (optinfo=), bare keys and 1-byte entries that bonjour-service mangles', () => {
    expect(decodeTxt([b('sysinfo=6.1.0-56-amd64 x86_64'), b('optinfo='), b('v'), b('certinfo=00:11:22:33:44'), b('a=b=c')])).toEqual({
      sysinfo: '6.1.0-56-amd64 x86_64',
      optinfo: '',
      v: '',
      certinfo: '00:11:22:33:44',
      a: 'b=c',
    });
  });
  it('keeps the first of duplicate keys, case-insensitively', () => {
    expect(decodeTxt([b('Version=1'), b('version=2')])).toEqual({ version: '1' });
  });
});

const agent = (host: string, addresses: string[], txt: Record<string, string> = {}): Advertisement => ({
  kind: 'agent', instance: `${host} agent`, srvHost: `${host}.local`, host, port: 9, addresses, txt: { host, ...txt },
});
const srv = (host: string, addresses: string[], port: number, sysinfo = '6.1.0-56-amd64 x86_64'): Advertisement => ({
  kind: 'server', instance: `Systemtap Compile Server on ${host} ${port}`, srvHost: `${host}.local`, host, port, addresses, txt: { sysinfo },
});

describe('grouping discovered services by host', () => {
  it('merges a host seen on several addresses and through both service types', () => {
    const hosts = groupByHost([
      srv('h1', ['fe80::1', '10.0.0.1'], 5000),
      agent('h1', ['10.0.0.1'], { sshport: '2222', servers: '1' }),
      agent('h2', ['10.0.0.2']),
      srv('h1', ['10.0.0.1'], 5000),
      srv('h2', ['10.0.0.2'], 5001),
    ]);
    expect(hosts.map((h) => [h.name, h.addresses, h.sshPort, h.servers.length, !!h.agent])).toEqual([
      ['h1', ['10.0.0.1', 'fe80::1'], 2222, 1, true],
      ['h2', ['10.0.0.2'], 22, 1, true],
    ]);
  });
  it('attributes a server advertised under another name to the host with the same address', () => {
    const hosts = groupByHost([agent('box', ['10.0.0.7']), srv('box-2', ['10.0.0.7'], 5000)]);
    expect(hosts).toHaveLength(1);
    expect(hosts[0]!.servers).toHaveLength(1);
  });
  it('filters on TXT release and arch', () => {
    const s = srv('h1', [], 1, '6.1.0-56-amd64 x86_64');
    expect(matchesFilters(s, { release: '6.1.0-56-amd64' })).toBe(true);
    expect(matchesFilters(s, { release: '5.10.0' })).toBe(false);
    expect(matchesFilters(s, { arch: 'aarch64' })).toBe(false);
    const [h] = groupByHost([agent('h9', ['10.0.0.9'], { arch: 'x86_64', releases: '6.1.0-56-amd64,6.1.0-57-amd64' })]);
    expect(hostMatchesFilters(h!, { release: '6.1.0-57-amd64', arch: 'x86_64' })).toBe(true);
    expect(hostMatchesFilters(h!, { release: '4.19.0' })).toBe(false);
  });
  it('knows a host has fully answered once its agent and every server it counts were seen', () => {
    const [partial] = groupByHost([agent('h1', ['10.0.0.1'], { servers: '2' }), srv('h1', ['10.0.0.1'], 5000)]);
    expect(hostComplete(partial!)).toBe(false);
    const [full] = groupByHost([agent('h1', ['10.0.0.1'], { servers: '2' }), srv('h1', ['10.0.0.1'], 5000), srv('h1', ['10.0.0.1'], 5001)]);
    expect(hostComplete(full!)).toBe(true);
    const [none] = groupByHost([agent('h2', ['10.0.0.2'], { servers: '0' })]);
    expect(hostComplete(none!)).toBe(true);
    const [noAgent] = groupByHost([srv('h3', ['10.0.0.3'], 5000)]);
    expect(hostComplete(noAgent!)).toBe(false);
  });
});
