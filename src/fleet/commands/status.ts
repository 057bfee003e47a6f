/**
 * `stap-fleet status`: SSH to every target for `stap-server status --json` while mDNS is browsed in
 * parallel, then merge both per host. `--mdns-only` skips SSH.
 */
import { exitCodeForCategories } from '../exit-codes.js';
import { HostWorkError, runOnHosts } from '../runner.js';
import type { HostResult, RunnerProgress } from '../runner.js';
import type { FleetContext } from './context.js';
import { remoteCommandLine, wantsSudo } from './remote.js';
import { findDiscovered, mergeHostStatus, parseRemoteStatus } from './status-merge.js';
import type { FleetHostStatus, RemoteStatus } from './status-merge.js';
import { browse, groupByHost, type Advertisement, type DiscoveredHost } from '../targets/discovery.js';
import type { HostTarget } from '../transport/types.js';

/** A responder multicasts a record at most once a second (RFC 6762 6). */
const MDNS_RATE_LIMIT_MS = 1000;

export interface FleetStatusDocument {
  command: 'status';
  mdnsOnly: boolean;
  hosts: FleetHostStatus[];
  summary: Record<'hosts' | 'ok' | 'failed' | 'unreachable' | 'timeout' | 'hostkey' | 'auth' | 'servers' | 'running' | 'dead' | 'advertisedNotRunning' | 'runningNotAdvertised', number>;
  exitCode: number;
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
  const browseStartedAt = Date.now();
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
          if (r.sudoRefused) throw new HostWorkError('failed', r.shortMessage ?? `${conn.target.name}: sudo refused`);
          try {
            return parseRemoteStatus(r.stdout);
          } catch (e) {
            const why = (e as Error).message;
            const err = r.stderr.trim().split('\n').pop();
            throw new HostWorkError('failed', `${conn.target.name}: ${why}${r.exitCode ? ` (exit ${r.exitCode}${err ? `: ${err}` : ''})` : ''}`);
          }
        },
        { fanout: o.fanout, connectTimeoutMs: o.connectTimeoutMs, maxConnectAttempts: o.connectAttempts, onProgress: opts.onProgress },
      );
  let discovered = await discovery;
  if (o.mdns && !opts.mdnsOnly && !allRunningSeen(targets, sshResults, discovered)) {
    // Another querier just before us leaves our first query unanswered for a second: before calling a running
    // server "not advertised", ask once more after that second, until the missing ones answer.
    await new Promise((r) => setTimeout(r, Math.max(0, browseStartedAt + MDNS_RATE_LIMIT_MS + 100 - Date.now())));
    const earlier = advertisementsOf(discovered);
    const more = await browse({
      maxMs: 1200,
      requeryMs: [],
      until: (ads) => allRunningSeen(targets, sshResults, groupByHost([...earlier, ...ads])),
    }).catch(() => [] as Advertisement[]);
    discovered = groupByHost([...earlier, ...more]);
  }
  const hosts = targets.map((t, i) => mergeHostStatus(t, sshResults[i], findDiscovered(t, discovered)));
  return summarise(hosts, opts.mdnsOnly);
}

/** True when every running server that SSH reported (by port) has an mDNS advertisement on its host. */
export function allRunningSeen(
  targets: HostTarget[],
  sshResults: Array<HostResult<RemoteStatus> | undefined>,
  discovered: DiscoveredHost[],
): boolean {
  return targets.every((t, i) => {
    const running = (sshResults[i]?.value?.servers ?? []).filter((s) => s.state === 'running' && typeof s.port === 'number');
    if (!running.length) return true;
    const ports = new Set((findDiscovered(t, discovered)?.servers ?? []).map((a) => a.port));
    return running.every((s) => ports.has(s.port as number));
  });
}

function advertisementsOf(hosts: DiscoveredHost[]): Advertisement[] {
  return hosts.flatMap((h) => [...(h.agent ? [h.agent] : []), ...h.servers]);
}
