/**
 * SystemTap's client/server protocol versions: compared numerically by dot component, a shorter
 * version counting as lower when the common part is equal ("4" < "4.0"). SystemTap asserts on a
 * non-numeric component; we treat it as 0 so that a hostile version string cannot crash anything.
 */
import type { SignatureHash } from '../../trust/signing.js';

/** The version we announce in `response/version`: the SystemTap protocol we speak. */
export const SERVER_PROTOCOL_VERSION = '4.8';

/** First SystemTap version whose .sgn files use SHA-256 (upstream "Upgrade module signing from SHA1 to SHA256"). */
export const SHA256_SINCE_VERSION = '5.5';

export function hashForClientVersion(clientVersion: string): SignatureHash {
  return compareVersions(clientVersion, SHA256_SINCE_VERSION) >= 0 ? 'sha256' : 'sha1';
}

export function compareVersions(a: string, b: string): number {
  const pa = a.trim().split('.').map(toNumber);
  const pb = b.trim().split('.').map(toNumber);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i]! !== pb[i]!) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return Math.sign(pa.length - pb.length);
}

function toNumber(s: string): number {
  return /^\d+$/.test(s) ? Number(s) : 0;
}
