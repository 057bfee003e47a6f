/**
 * Pure merge of what SSH says runs (`stap-server status --json`) with what mDNS advertises, per host:
 * running+advertised, running but not advertised, advertised but not running, dead. No I/O here.
 */
import type { Advertisement, DiscoveredHost } from '../targets/discovery.js';
import type { HostResult } from '../runner.js';
import type { HostCategory, HostTarget } from '../transport/types.js';

/** One server as `stap-server status --json` prints it (schema owned by the service). */
export interface RemoteServer {
  pid: number;
  state: 'running' | 'dead';
  nickname?: string;
  arch?: string;
  releases?: string[];
  user?: string;
  port?: number | null;
  configuredPort?: number | string | null;
  certinfo?: string;
  sslDir?: string;
  log?: string;
  include?: string[];
  define?: string[];
  build?: string[];
  runtime?: string;
  maxThreads?: number | string | null;
  maxRequestSize?: number | string | null;
  maxCompressedRequest?: number | string | null;
  statFile?: string;
}

export interface RemoteStatus {
  servers: RemoteServer[];
  exitCode: number;
}

export type ServerVerdict =
  | 'running-advertised'
  | 'running-not-advertised'
  | 'advertised-not-running'
  | 'dead'
  /** Seen only through mDNS (--mdns-only, or the host could not be asked). */
  | 'advertised';

export interface AdvertisementSummary {
  instance: string;
  host: string;
  port: number;
  addresses: string[];
  txt: Record<string, string>;
}

export interface FleetServerStatus {
  verdict: ServerVerdict;
  pid?: number;
  nickname?: string;
  arch?: string;
  releases: string[];
  user?: string;
  port?: number | null;
  certinfo?: string;
  log?: string;
  /** The full record from stap-server status --json, when SSH reached the host. */
  server?: RemoteServer;
  advertisement?: AdvertisementSummary;
}

export interface FleetHostStatus {
  name: string;
  hostname: string;
  sshPort: number;
  source: HostTarget['source'];
  /** SSH outcome ('ok' with --mdns-only means "seen via mDNS"). */
  category: HostCategory;
  shortMessage?: string;
  /** The agent's advertisement TXT, when one was seen. */
  agent: { instance: string; txt: Record<string, string> } | null;
  servers: FleetServerStatus[];
  durationMs: number;
}

/** Parses and sanity-checks the JSON document; throws with a short reason when it is not one. */
export function parseRemoteStatus(stdout: string): RemoteStatus {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    const first = stdout.trim().split('\n')[0] ?? '';
    throw new Error(`stap-server status --json did not print JSON${first ? `: ${first.slice(0, 120)}` : ' (empty output)'}`);
  }
  if (!doc || typeof doc !== 'object' || !Array.isArray((doc as RemoteStatus).servers)) {
    throw new Error('stap-server status --json printed JSON without a "servers" array');
  }
  const servers = (doc as RemoteStatus).servers.filter((s) => s && typeof s === 'object' && typeof s.pid === 'number');
  return { servers, exitCode: Number((doc as RemoteStatus).exitCode ?? 0) };
}

/** The discovered host that is this target: same name, or one of its addresses is the target's hostname. */
export function findDiscovered(target: HostTarget, discovered: DiscoveredHost[]): DiscoveredHost | undefined {
  return (
    discovered.find((d) => d.name === target.name) ??
    discovered.find((d) => d.addresses.includes(target.hostname) || d.name === target.hostname)
  );
}

function summarise(ad: Advertisement): AdvertisementSummary {
  return { instance: ad.instance, host: ad.srvHost, port: ad.port, addresses: ad.addresses, txt: ad.txt };
}

function releasesFromTxt(ad: Advertisement): { releases: string[]; arch?: string } {
  const [release, arch] = (ad.txt.sysinfo ?? '').split(/\s+/);
  return { releases: release ? [release] : [], arch };
}

/** An advertisement belongs to a server when the certificate serial or the port agrees. */
export function advertisementMatches(server: RemoteServer, ad: Advertisement): boolean {
  const cert = (server.certinfo ?? '').toLowerCase();
  if (cert && ad.txt.certinfo && ad.txt.certinfo.toLowerCase() === cert) return true;
  return typeof server.port === 'number' && server.port > 0 && server.port === ad.port;
}

function fromAdvertisement(ad: Advertisement, verdict: ServerVerdict): FleetServerStatus {
  const { releases, arch } = releasesFromTxt(ad);
  return { verdict, releases, arch, port: ad.port, certinfo: ad.txt.certinfo, advertisement: summarise(ad) };
}

export function mergeHostStatus(
  target: HostTarget,
  ssh: HostResult<RemoteStatus> | undefined,
  discovered: DiscoveredHost | undefined,
): FleetHostStatus {
  const ads = discovered?.servers ?? [];
  const base: FleetHostStatus = {
    name: target.name,
    hostname: target.hostname,
    sshPort: target.port,
    source: target.source,
    category: ssh?.category ?? 'ok',
    shortMessage: ssh?.shortMessage,
    agent: discovered?.agent ? { instance: discovered.agent.instance, txt: discovered.agent.txt } : null,
    servers: [],
    durationMs: Math.round(ssh?.durationMs ?? 0),
  };
  if (!ssh || ssh.category !== 'ok' || !ssh.value) {
    // Without an answer over SSH, all we know is what is advertised.
    base.servers = ads.map((ad) => fromAdvertisement(ad, 'advertised'));
    return base;
  }
  const unmatched = new Set(ads);
  for (const server of ssh.value.servers) {
    const ad = server.state === 'running' ? [...unmatched].find((a) => advertisementMatches(server, a)) : undefined;
    if (ad) unmatched.delete(ad);
    base.servers.push({
      verdict: server.state === 'dead' ? 'dead' : ad ? 'running-advertised' : 'running-not-advertised',
      pid: server.pid,
      nickname: server.nickname,
      arch: server.arch,
      releases: server.releases ?? [],
      user: server.user,
      port: server.port ?? null,
      certinfo: server.certinfo,
      log: server.log,
      server,
      advertisement: ad ? summarise(ad) : undefined,
    });
  }
  for (const ad of unmatched) base.servers.push(fromAdvertisement(ad, 'advertised-not-running'));
  return base;
}

export const VERDICT_LABEL: Record<ServerVerdict, string> = {
  'running-advertised': 'running, advertised',
  'running-not-advertised': 'running, NOT advertised',
  'advertised-not-running': 'advertised, NOT running',
  dead: 'dead',
  advertised: 'advertised',
};
