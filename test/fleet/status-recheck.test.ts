import { describe, expect, it } from 'vitest';
import { allRunningSeen } from '../../src/fleet/commands/status.js';
import type { DiscoveredHost } from '../../src/fleet/targets/discovery.js';
import type { HostTarget } from '../../src/fleet/transport/types.js';

const target = (name: string, ip: string): HostTarget => ({ name, hostname: ip, port: 22, source: 'cli' });
const ssh = (ports: Array<number | null>, state: 'running' | 'dead' = 'running') => ({
  target: target('x', 'x'),
  category: 'ok' as const,
  durationMs: 1,
  value: { exitCode: 0, servers: ports.map((port, i) => ({ pid: 100 + i, state, port })) },
});
const host = (name: string, ip: string, ports: number[]): DiscoveredHost => ({
  name,
  addresses: [ip],
  sshPort: 22,
  servers: ports.map((port) => ({ kind: 'server', instance: `s${port}`, srvHost: `${name}.local`, host: name, port, addresses: [ip], txt: {} })),
});

describe('status asks mDNS again only when a running server was not seen', () => {
  const targets = [target('h1', '10.0.0.1'), target('h2', '10.0.0.2')];

  it('holds when every running port is advertised on its host', () => {
    expect(allRunningSeen(targets, [ssh([7001]), ssh([7002, 7003])], [host('h1', '10.0.0.1', [7001]), host('h2', '10.0.0.2', [7002, 7003])])).toBe(true);
  });

  it('fails when one running server has no advertisement yet', () => {
    expect(allRunningSeen(targets, [ssh([7001]), ssh([7002, 7003])], [host('h1', '10.0.0.1', [7001]), host('h2', '10.0.0.2', [7002])])).toBe(false);
    expect(allRunningSeen(targets, [ssh([7001]), undefined], [])).toBe(false);
  });

  it('ignores dead servers, servers without a port, and hosts SSH could not ask', () => {
    expect(allRunningSeen(targets, [ssh([7001], 'dead'), ssh([null])], [])).toBe(true);
    expect(allRunningSeen(targets, [undefined, undefined], [])).toBe(true);
  });
});
