/**
 * mDNS discovery with bonjour-service (no D-Bus needed): browses `_stap-agent._tcp` (the agents: TXT
 * version, host, sshport, servers) and `_stap._tcp` (compile servers: sysinfo, optinfo, version, certinfo),
 * stops once answers go quiet, and de-duplicates hosts seen on several addresses. TXT is decoded from
 * rawTxt because bonjour-service's decoder loses `optinfo=` (empty value) and 1-byte entries.
 */
import { openBonjour } from '../../mdns.js';

export interface Advertisement {
  kind: 'agent' | 'server';
  /** Service instance name. */
  instance: string;
  /** SRV target, e.g. "h3.local". */
  srvHost: string;
  /** Host name this advertisement belongs to (agent TXT host=, else SRV target without .local). */
  host: string;
  port: number;
  addresses: string[];
  txt: Record<string, string>;
}

export interface DiscoveredHost {
  name: string;
  addresses: string[];
  /** SSH port from the agent's TXT (default 22). */
  sshPort: number;
  agent?: Advertisement;
  servers: Advertisement[];
}

export interface DiscoveryOptions {
  /** Hard cap on browsing time (default 3000 ms). */
  maxMs?: number;
  /** Stop once no new service answered for this long after the first answer (default 250 ms). */
  quietMs?: number;
  /** Minimum browsing time even when answers are quick (default 150 ms). */
  minMs?: number;
  /** Give up when nothing at all answered for this long (default 1000 ms, avahi-browse's "all for now"). */
  idleMs?: number;
  types?: Array<'agent' | 'server'>;
  /** Stop as soon as this holds for what was seen so far (checked as answers arrive). */
  until?: (ads: Advertisement[]) => boolean;
  /**
   * Ask again at these times (default [300] ms). Answers to the first query can arrive before the socket has
   * joined the group, and a responder multicasts a record at most once a second (RFC 6762 6).
   */
  requeryMs?: number[];
}

export const AGENT_SERVICE_TYPE = 'stap-agent';
export const SERVER_SERVICE_TYPE = 'stap';

/** Decodes DNS-SD TXT strings exactly: "key=value" (value may be empty), "key" alone = "". */
export function decodeTxt(raw: unknown): Record<string, string> {
  const entries: Buffer[] = Array.isArray(raw) ? (raw as Buffer[]) : Buffer.isBuffer(raw) ? [raw] : [];
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const s = Buffer.isBuffer(entry) ? entry.toString('utf8') : String(entry);
    if (!s) continue;
    const eq = s.indexOf('=');
    const key = (eq < 0 ? s : s.slice(0, eq)).toLowerCase();
    if (!key || key in out) continue; // RFC 6763 6.4: the first occurrence wins
    out[key] = eq < 0 ? '' : s.slice(eq + 1);
  }
  return out;
}

const stripLocal = (h: string) => h.replace(/\.$/, '').replace(/\.local$/i, '');

export function sshPortFromTxt(txt: Record<string, string>): number | undefined {
  for (const k of ['sshport', 'ssh-port', 'ssh_port', 'ssh']) {
    const v = txt[k];
    if (v && /^\d+$/.test(v) && Number(v) > 0 && Number(v) < 65536) return Number(v);
  }
  return undefined;
}

/** Groups advertisements by host, merging addresses; agent TXT host= wins over SRV targets. */
export function groupByHost(ads: Advertisement[]): DiscoveredHost[] {
  const hosts = new Map<string, DiscoveredHost>();
  const byAddress = new Map<string, DiscoveredHost>();
  const sorted = [...ads].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'agent' ? -1 : 1));
  for (const ad of sorted) {
    let h = hosts.get(ad.host) ?? ad.addresses.map((a) => byAddress.get(a)).find((x) => x);
    if (!h) {
      h = { name: ad.host, addresses: [], sshPort: 22, servers: [] };
      hosts.set(ad.host, h);
    }
    for (const a of ad.addresses) {
      if (!h.addresses.includes(a)) h.addresses.push(a);
      byAddress.set(a, h);
    }
    if (ad.kind === 'agent') {
      h.agent ??= ad;
      h.sshPort = sshPortFromTxt(ad.txt) ?? h.sshPort;
    } else if (!h.servers.some((s) => s.instance === ad.instance)) h.servers.push(ad);
  }
  // IPv4 first: it is what sshd listens on in most LANs, and link-local IPv6 needs a scope id.
  for (const h of hosts.values()) h.addresses.sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
  return [...hosts.values()];
}

/** Server-advertisement filters: kernel release and arch, from TXT sysinfo="<release> <arch>". */
export function matchesFilters(ad: Advertisement, f: { release?: string; arch?: string }): boolean {
  const [release, arch] = (ad.txt.sysinfo ?? '').split(/\s+/);
  if (f.release && release !== f.release) return false;
  if (f.arch && arch !== f.arch) return false;
  return true;
}

/** Host filter: a host passes when one of its servers matches, or (no servers) its agent TXT does. */
export function hostMatchesFilters(h: DiscoveredHost, f: { release?: string; arch?: string }): boolean {
  if (!f.release && !f.arch) return true;
  if (h.servers.some((s) => matchesFilters(s, f))) return true;
  const t = h.agent?.txt ?? {};
  const releases = (t.releases ?? t.release ?? '').split(/[\s,]+/).filter(Boolean);
  if (f.release && !releases.includes(f.release)) return false;
  if (f.arch && t.arch !== f.arch) return false;
  return !!(f.release ? releases.length : t.arch);
}

function toAdvertisement(kind: Advertisement['kind'], s: {
  name?: string; host?: string; port?: number; addresses?: string[]; rawTxt?: unknown; referer?: { address?: string };
}): Advertisement | undefined {
  if (!s.name || !s.host) return undefined;
  const txt = decodeTxt(s.rawTxt);
  const srvHost = s.host;
  const host = (kind === 'agent' && (txt.host || txt.hostname)) || stripLocal(srvHost);
  const addresses = [...(s.addresses ?? [])];
  if (!addresses.length && s.referer?.address) addresses.push(s.referer.address);
  return { kind, instance: s.name, srvHost, host: stripLocal(host), port: s.port ?? 0, addresses, txt };
}

/** Browses the LAN; resolves with every advertisement seen, at most after maxMs. */
export async function browse(opts: DiscoveryOptions = {}): Promise<Advertisement[]> {
  const maxMs = opts.maxMs ?? 3000;
  const quietMs = opts.quietMs ?? 250;
  const minMs = Math.min(opts.minMs ?? 150, maxMs);
  // Responders answer a multicast query within 20-120 ms (RFC 6762 6), 500 ms at worst: silence for a
  // second means nobody advertises this type.
  const idleMs = opts.idleMs ?? 1000;
  const types = opts.types ?? ['agent', 'server'];
  const bonjour = openBonjour({}, () => undefined);
  const t0 = Date.now();
  let lastAnswer = 0;
  const browsers = types.map((kind) => ({
    kind,
    browser: bonjour.find({ type: kind === 'agent' ? AGENT_SERVICE_TYPE : SERVER_SERVICE_TYPE }, () => {
      lastAnswer = Date.now();
    }),
  }));
  const collect = (): Advertisement[] => {
    const ads: Advertisement[] = [];
    for (const { kind, browser } of browsers) {
      for (const s of browser.services) {
        const ad = toAdvertisement(kind, s as never);
        if (ad) ads.push(ad);
      }
    }
    return ads;
  };
  const requeries = (opts.requeryMs ?? [300]).map((ms) =>
    setTimeout(() => { for (const { browser } of browsers) browser.update(); }, ms),
  );
  let checkedAt = -1;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = Date.now();
      const elapsed = now - t0;
      const quiet = lastAnswer > 0 && now - lastAnswer >= quietMs && elapsed >= minMs;
      const nobody = lastAnswer === 0 && elapsed >= idleMs;
      let enough = false;
      if (opts.until && lastAnswer !== checkedAt) {
        checkedAt = lastAnswer;
        enough = opts.until(collect());
      }
      if (enough || quiet || nobody || elapsed >= maxMs) {
        clearInterval(tick);
        resolve();
      }
    }, 20);
  });
  for (const t of requeries) clearTimeout(t);
  const ads = collect();
  for (const { browser } of browsers) browser.stop();
  await new Promise<void>((r) => bonjour.destroy(() => r()));
  return ads;
}

/**
 * True when the host has told us everything: its agent answered and as many of its servers as the agent's
 * TXT servers=<n> counts. Without an agent we cannot know, so the caller falls back to the quiet window.
 */
export function hostComplete(h: DiscoveredHost): boolean {
  const n = h.agent?.txt.servers;
  return !!h.agent && n !== undefined && /^\d+$/.test(n) && h.servers.length >= Number(n);
}

export async function discoverHosts(opts: DiscoveryOptions = {}): Promise<DiscoveredHost[]> {
  return groupByHost(await browse(opts));
}
