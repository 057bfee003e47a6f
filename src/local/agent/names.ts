/** Instance names, TXT records and service types exactly as stap-serverd publishes them. */

export const STAP_SERVICE_TYPE = '_stap._tcp';
export const AGENT_SERVICE_TYPE = '_stap-agent._tcp';
/** The compile-server protocol version our servers speak (SystemTap 4.8's client and server send 4.8). */
export const STAP_PROTOCOL_VERSION = '4.8';
/** DNS-SD instance names are at most 63 bytes. */
export const MAX_INSTANCE_NAME = 63;

function truncateUtf8(s: string, maxBytes: number): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > maxBytes) break;
    out += ch;
  }
  return out;
}

/** `Systemtap Compile Server on <host>`, truncated to 63 bytes like stap-serverd. */
export function serverInstanceName(hostname: string): string {
  return truncateUtf8(`Systemtap Compile Server on ${hostname}`, MAX_INSTANCE_NAME);
}

export function agentInstanceName(hostname: string): string {
  return truncateUtf8(`stap-agent on ${hostname}`, MAX_INSTANCE_NAME);
}

/** The n-th name for a base name (n=1: the base; n>=2: `base #n`, keeping within 63 bytes like Avahi). */
export function numberedName(base: string, n: number): string {
  if (n <= 1) return base;
  const suffix = ` #${n}`;
  return truncateUtf8(base, MAX_INSTANCE_NAME - suffix.length) + suffix;
}

/** TXT strings of one advertised release, in stap-serverd's order. */
export function serverTxt(release: string, arch: string, optinfo: string, certinfo: string): string[] {
  return [`sysinfo=${release} ${arch}`, `optinfo=${optinfo}`, `version=${STAP_PROTOCOL_VERSION}`, `certinfo=${certinfo}`];
}

export function agentTxt(agentVersion: string, hostname: string, sshPort: number, serverCount: number): string[] {
  return [`agent=${agentVersion}`, `host=${hostname}`, `ssh=${sshPort}`, `servers=${serverCount}`];
}
