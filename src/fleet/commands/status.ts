/**
 * `stap-fleet status`: SSH to every target for `stap-server status --json` while mDNS is browsed in
 * parallel, then merge both per host. `--mdns-only` skips SSH.
 */
import { exitCodeForCategories } from '../exit-codes.js';
import { HostWorkError, runOnHosts } from '../runner.js';
import type { HostResult, RunnerProgress } from '../runner.js';
import type { DiscoveredHost } from '../targets/discovery.js';
import type { HostTarget } from '../transport/types.js';
import type { FleetContext } from './context.js';
import { remoteCommandLine, wantsSudo } from './remote.js';
import { findDiscovered, mergeHostStatus, parseRemoteStatus } from './status-merge.js';
import type { FleetHostStatus, RemoteStatus } from './status-merge.js';

export interface FleetStatusDocument {
  command: 'status';
  mdnsOnly: boolean;
  hosts: FleetHostStatus[];
  summary: Record<'hosts' | 'ok' | 'failed' | 'unreachable' | 'timeout' | 'hostkey' | 'auth' | 'servers' | 'running' | 'dead' | 'advertisedNotRunning' | 'runningNotAdvertised', number>;
  exitCode: number;
}

/** Discovered hosts that no target names are still listed: they advertise, so the user should see them. */
function extraDiscovered(targets: HostTarget[], discovered: DiscoveredHost[], explicitTargets: boolean): DiscoveredHost[] {
  if (explicitTargets) return [];
  return discovered.filter((d) => !targets.some((t) => findDiscovered(t, [d])));
}

export function summarise(hosts: FleetHostStatus[], mdnsOnly: boolean): FleetStatusDocument {
  const count = (c: string) => hosts.filter((h) => h.category === c).length;
  const servers = hosts.flatMap((h) => h.servers);
  const v = (x: string) => servers.filter((s) => s.verdict === x).length;
  return {
    command: 'status',
    mdnsOnly,
    hosts,
    summary: {
      hosts: hosts.length,
      ok: count('ok'),
      failed: count('failed'),
      unreachable: count('unreachable'),
      timeout: count('timeout'),
      hostkey: count('hostkey'),
      auth: count('auth'),
      servers: servers.length,
      running: v('running-advertised') + v('running-not-advertised'),
      dead: v('dead'),
      advertisedNotRunning: v('advertised-not-running'),
      runningNotAdvertised: v('running-not-advertised'),
    },
    exitCode: exitCodeForCategories(hosts.map((h) => h.category)),
  };
}

export async function fleetStatus(
  ctx: FleetContext,
  opts: { mdnsOnly: boolean; onProgress?: (p: RunnerProgress) => void },
): Promise<FleetStatusDocument> {
  const o = ctx.options;
  const { targets, discovery } = await ctx.resolve();
  const command = remoteCommandLine(o.remoteCommand, ['status', '--json']);
  const sshResults: Array<HostResult<RemoteStatus> | undefined> = opts.mdnsOnly
    ? targets.map(() => undefined)
    : await runOnHosts(
        targets,
        ctx.transport,
        async (conn) => {
          const r = await conn.run(command, { timeoutMs: o.commandTimeoutMs, sudo: wantsSudo(o.sudo, false) });
          if (r.category !== 'ok' && r.category !== 'failed') throw new HostWorkError(r.category, r.shortMessage ?? 'failed');
          try {
            return parseRemoteStatus(r.stdout);
          } catch (e) {
            const why = (e as Error).message;
            const err = r.stderr.trim().split('\n').pop();
            throw new HostWorkError('failed', `${conn.target.name}: ${why}${r.exitCode ? ` (exit ${r.exitCode}${err ? `: ${err}` : ''})` : ''}`);
          }
        },
        { fanout: o.fanout, connectTimeoutMs: o.connectTimeoutMs, onProgress: opts.onProgress },
      );
  const discovered = await discovery;
  const hosts = targets.map((t, i) => mergeHostStatus(t, sshResults[i], findDiscovered(t, discovered)));
  for (const d of extraDiscovered(targets, discovered, o.targets.length > 0)) {
    const t: HostTarget = { name: d.name, hostname: d.addresses[0] ?? d.name, port: d.sshPort, source: 'mdns' };
    hosts.push(mergeHostStatus(t, undefined, d));
  }
  return summarise(hosts, opts.mdnsOnly);
}
