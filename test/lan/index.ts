/**
 * Test LAN harness: N simulated hosts (network namespaces on one bridge, each with its own hostname and private
 * mount view of the files a host owns), for tests, benchmarks and the demo. See docs/agent.md ("Test LAN").
 *
 *   const lan = await createLan({ hosts: 3, tag: 'srv' });
 *   await lan.hosts[0].exec(['hostname']);   // -> stdout 'h1\n'
 *   await lan.destroy();
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LanHost } from './host.js';
import { mapLimit, run } from './proc.js';
import { VIEW_MOUNTS } from './views.js';
import { allocateSlot, cleanupStale, releaseSlot, slotDir, writeOwner, killAndDeleteNamespace } from './slots.js';
import { procStartTicks } from './proc.js';

export { LanHost } from './host.js';
export type { ExecOptions, SpawnOptions, SshdInfo, AvahiBrowseEntry } from './host.js';
export { parseAvahiBrowse } from './host.js';
export type { RunResult } from './proc.js';
export { waitFor, sleep } from './proc.js';
export { cleanupStale } from './slots.js';

export interface LanOptions {
  /** Number of hosts (1..250), named h1..hN. */
  hosts: number;
  /** Short id of the test file (<= 4 chars, [a-z0-9]); appears in namespace names. */
  tag: string;
  /** Start avahi-daemon on every host right away. */
  avahi?: boolean;
}

export interface Lan {
  readonly slot: number;
  readonly tag: string;
  /** e.g. '10.78.12' (hosts are <subnet>.1 ... <subnet>.N, /24). */
  readonly subnet: string;
  /** Namespace of the bridge. */
  readonly bridgeNs: string;
  readonly dir: string;
  readonly hosts: LanHost[];
  host(name: string): LanHost;
  destroy(): Promise<void>;
}

const PARALLEL = 8;

export async function createLan(opts: LanOptions): Promise<Lan> {
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 250) throw new Error(`createLan: hosts must be 1..250, got ${opts.hosts}`);
  if (!/^[a-z0-9]{1,4}$/.test(opts.tag)) throw new Error(`createLan: tag must be 1-4 chars of [a-z0-9], got '${opts.tag}'`);
  ensureMountPoints();
  const slot = await allocateSlot(opts.tag);
  const prefix = `sf${slot}-${opts.tag}`;
  const subnet = `10.78.${slot}`;
  const dir = slotDir(slot);
  const bridgeNs = `${prefix}-br`;
  const hosts: LanHost[] = [];
  for (let i = 1; i <= opts.hosts; i++) {
    hosts.push(new LanHost({ name: `h${i}`, index: i, ns: `${prefix}-h${i}`, ip: `${subnet}.${i}`, dir: join(dir, `h${i}`) }));
  }
  let destroyed = false;
  const lan: Lan = {
    slot,
    tag: opts.tag,
    subnet,
    bridgeNs,
    dir,
    hosts,
    host(name: string): LanHost {
      const h = hosts.find((x) => x.name === name);
      if (!h) throw new Error(`no host ${name} on LAN ${prefix}`);
      return h;
    },
    async destroy(): Promise<void> {
      if (destroyed) return;
      destroyed = true;
      await mapLimit(hosts, PARALLEL, async (h) => {
        await h.stopAll();
        await killAndDeleteNamespace(h.ns);
      });
      await killAndDeleteNamespace(bridgeNs);
      await releaseSlot(slot);
    },
  };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    await runSh(
      `ip netns add "$0" && ip -n "$0" link set lo up && ip -n "$0" link add br0 type bridge mcast_snooping 0 stp_state 0 forward_delay 0 && ip -n "$0" link set br0 up`,
      [bridgeNs],
    );
    await mapLimit(hosts, PARALLEL, async (h) => {
      mkdirSync(h.dir, { recursive: true, mode: 0o755 });
      await runSh(
        [
          'set -e',
          'ip netns add "$0"',
          'ip -n "$0" link set lo up',
          // Both veth ends are born inside their namespaces: the root namespace never sees them.
          'ip link add eth0 netns "$0" type veth peer name "$2" netns "$1"',
          'ip -n "$1" link set "$2" master br0',
          'ip -n "$1" link set "$2" up',
          'ip -n "$0" addr add "$3/24" dev eth0',
          'ip -n "$0" link set eth0 multicast on up',
          'ip -n "$0" route add 224.0.0.0/4 dev eth0',
        ].join('\n'),
        [h.ns, bridgeNs, `vh${h.index}`, h.ip],
      );
      await h.startAnchor();
    });
    writeOwner(slot, {
      pid: process.pid,
      startTicks: procStartTicks(process.pid) ?? '',
      tag: opts.tag,
      createdAt: new Date().toISOString(),
      hosts: hosts.map((h) => ({ name: h.name, ns: h.ns, ip: h.ip, anchorPid: h.anchorPid, dir: h.dir })),
    });
    if (opts.avahi) await mapLimit(hosts, PARALLEL, (h) => h.startAvahi());
  } catch (err) {
    await lan.destroy().catch(() => undefined);
    throw err;
  }
  return lan;
}

/** Runs fn with a fresh LAN and always destroys it afterwards. */
export async function withLan<T>(opts: LanOptions, fn: (lan: Lan) => Promise<T>): Promise<T> {
  const lan = await createLan(opts);
  try {
    return await fn(lan);
  } finally {
    await lan.destroy();
  }
}

async function runSh(script: string, args: string[]): Promise<void> {
  const r = await run(['sh', '-c', script, ...args], { timeoutMs: 20_000 });
  if (r.failed) throw new Error(`LAN setup failed (${args.join(' ')}): ${r.shortMessage}: ${r.stderr.trim()}`);
}

/** Mount points must exist in the root fs for the per-host bind mounts (harmless empty dirs). */
function ensureMountPoints(): void {
  for (const m of VIEW_MOUNTS) mkdirSync(m.path, { recursive: true });
}

export { cleanupStale as cleanupStaleLans };
