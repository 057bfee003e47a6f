/** `stap-fleet start|stop|...`: one stap-server action on every target in parallel, results folded. */
import { StapFleetError } from '../../errors.js';
import { exitCodeForCategories } from '../exit-codes.js';
import { runOnHosts } from '../runner.js';
import type { RunnerProgress } from '../runner.js';
import type { HostCategory } from '../transport/types.js';
import type { FleetContext } from './context.js';
import { remoteCommandLine, wantsSudo } from './remote.js';
import type { ServiceAction } from './remote.js';

export interface FleetActionHost {
  name: string;
  hostname: string;
  category: HostCategory;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  shortMessage?: string;
}

export interface FleetActionDocument {
  command: ServiceAction;
  remoteCommand: string;
  hosts: FleetActionHost[];
  summary: Record<HostCategory, string[]>;
  exitCode: number;
}

export function summariseCategories(hosts: { name: string; category: HostCategory }[]): Record<HostCategory, string[]> {
  const s: Record<HostCategory, string[]> = { ok: [], failed: [], unreachable: [], timeout: [], hostkey: [], auth: [] };
  for (const h of hosts) s[h.category].push(h.name);
  return s;
}

export async function fleetAction(
  ctx: FleetContext,
  action: ServiceAction,
  serverArgs: string[],
  opts: { onProgress?: (p: RunnerProgress) => void } = {},
): Promise<FleetActionDocument> {
  const o = ctx.options;
  const { targets } = await ctx.resolve();
  if (targets.length === 0) {
    throw new StapFleetError('SF_TARGETS', { detail: 'no targets: name hosts (node sets), give an inventory (-i), or run where agents advertise over mDNS' });
  }
  const command = remoteCommandLine(o.remoteCommand, [action, ...serverArgs]);
  const results = await runOnHosts(
    targets,
    ctx.transport,
    (conn) => conn.run(command, { timeoutMs: o.commandTimeoutMs, sudo: wantsSudo(o.sudo, true) }),
    { fanout: o.fanout, connectTimeoutMs: o.connectTimeoutMs, maxConnectAttempts: o.connectAttempts, onProgress: opts.onProgress },
  );
  const hosts: FleetActionHost[] = results.map((r) => ({
    name: r.target.name,
    hostname: r.target.hostname,
    category: r.category,
    exitCode: r.value?.exitCode ?? null,
    stdout: r.value?.stdout ?? '',
    stderr: r.value?.stderr ?? '',
    timedOut: r.category === 'timeout',
    durationMs: Math.round(r.durationMs),
    shortMessage: r.shortMessage,
  }));
  return { command: action, remoteCommand: command, hosts, summary: summariseCategories(hosts), exitCode: exitCodeForCategories(hosts.map((h) => h.category)) };
}
