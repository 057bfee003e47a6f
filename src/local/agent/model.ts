/**
 * What the agent should advertise, computed from the live servers (pure; no I/O). Keys are stable per server and
 * release, so a server keeps its name (and any `#n`) while it lives.
 */
import { AGENT_SERVICE_TYPE, STAP_SERVICE_TYPE, agentInstanceName, agentTxt, serverInstanceName, serverTxt } from './names.js';

/** One live compile server as the agent sees it. */
export interface LiveServer {
  pid: number;
  port: number;
  arch: string;
  releases: string[];
  optinfo: string;
  certinfo: string;
  /** Where certinfo came from: the certificate file (truth) or the sidecar (file unreadable). */
  certinfoSource: 'cert' | 'sidecar';
  sslDir: string;
}

/** A server the agent does not advertise, and why. */
export interface IgnoredServer {
  pid: number;
  reason: string;
}

export interface DesiredService {
  /** Stable identity: `<pid>-<release>` for servers, `agent` for the host itself. */
  key: string;
  type: string;
  /** Base instance name before local numbering / conflict renaming. */
  baseName: string;
  port: number;
  txt: string[];
  serverPid?: number;
  release?: string;
}

export interface AgentIdentity {
  /** uname -n: the host the SRV records point at (`<hostname>.local`) and the agent record's host=. */
  hostname: string;
  /** Host name used inside instance names (default: hostname). */
  instanceHost?: string;
  agentVersion: string;
  sshPort: number;
  /** Advertise the host itself as _stap-agent._tcp. */
  advertiseAgent: boolean;
}

export function desiredServices(servers: LiveServer[], id: AgentIdentity): DesiredService[] {
  const out: DesiredService[] = [];
  const sorted = [...servers].sort((a, b) => a.pid - b.pid);
  for (const s of sorted) {
    for (const release of s.releases) {
      out.push({
        key: `${s.pid}-${release}`,
        type: STAP_SERVICE_TYPE,
        baseName: serverInstanceName(id.instanceHost ?? id.hostname),
        port: s.port,
        txt: serverTxt(release, s.arch, s.optinfo, s.certinfo),
        serverPid: s.pid,
        release,
      });
    }
  }
  if (id.advertiseAgent) {
    out.push({
      key: 'agent',
      type: AGENT_SERVICE_TYPE,
      baseName: agentInstanceName(id.instanceHost ?? id.hostname),
      port: id.sshPort,
      txt: agentTxt(id.agentVersion, id.hostname, id.sshPort, sorted.length),
    });
  }
  return out;
}

/**
 * Assigns local instance names: every desired service keeps the name it already has; new ones get the lowest
 * `base`, `base #2`, ... not used by another local service of the same type (stap-serverd's own services collide
 * the same way and Avahi numbers them alike).
 */
export function assignLocalNames(desired: DesiredService[], current: ReadonlyMap<string, string>, numbered: (base: string, n: number) => string): Map<string, string> {
  const names = new Map<string, string>();
  const used = new Set<string>();
  for (const d of desired) {
    const have = current.get(d.key);
    if (have !== undefined) {
      names.set(d.key, have);
      used.add(`${d.type}\u0000${have.toLowerCase()}`);
    }
  }
  for (const d of desired) {
    if (names.has(d.key)) continue;
    for (let n = 1; ; n++) {
      const name = numbered(d.baseName, n);
      const id = `${d.type}\u0000${name.toLowerCase()}`;
      if (!used.has(id)) {
        used.add(id);
        names.set(d.key, name);
        break;
      }
    }
  }
  return names;
}
