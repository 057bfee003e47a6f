/**
 * Collecting the servers to trust: which certificate each compile server really presents.
 *
 * An mDNS TXT `certinfo=` is only a claim. We open a TLS connection to the advertised address and port
 * (no verification: we want whatever it presents), send stap's 4-byte zero trust probe, read the peer
 * certificate's DER, and compare its serial (certinfo) with the claim. A mismatch is a possible spoof:
 * that server is skipped and reported. A server given as a bare `addr:port` has no claim to check, so
 * the presented certificate is taken, exactly like `stap --trust-servers --use-server=addr:port` does.
 */
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { certinfoOf } from './cert.js';
import { sha256Hex } from './nss.js';
import { StapFleetError } from '../errors.js';
import { browse } from '../fleet/targets/discovery.js';

export interface ServerCandidate {
  /** Display name, e.g. "h1:7777" or "10.1.0.1:7777". */
  name: string;
  address: string;
  port: number;
  /** certinfo claimed by the advertisement or by the user (`addr:port=certinfo`). */
  claimedCertinfo?: string;
  source: 'mdns' | 'cli' | 'ssh';
  /** stap.cert as read over SSH from the server's host: what TLS must present (source 'ssh'). */
  sshDer?: Buffer;
  /** mDNS host name (h1.local) and TXT fields, when discovered. */
  host?: string;
  sysinfo?: string;
  version?: string;
}

export type CollectStatus = 'ok' | 'spoof' | 'unreachable' | 'invalid';

export interface CollectedServer extends ServerCandidate {
  status: CollectStatus;
  /** certinfo of the certificate actually presented. */
  certinfo?: string;
  der?: Buffer;
  sha256?: string;
  notAfter?: string;
  shortMessage?: string;
  durationMs: number;
}

const CERTINFO_RE = /^[0-9a-f]{2}(:[0-9a-f]{2})+$/;

/** `addr:port`, `[v6addr]:port`, optionally `=certinfo` (the serial the server must present). */
export function parseServerSpec(spec: string): ServerCandidate {
  const [where, claim] = spec.split('=', 2) as [string, string | undefined];
  const m = /^\[([0-9A-Fa-f:.%\w-]+)\]:(\d{1,5})$/.exec(where) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(where);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new StapFleetError('SF_USAGE', { detail: `--server ${spec}: expected ADDRESS:PORT[=CERTINFO]` });
  }
  const claimed = claim?.toLowerCase();
  if (claimed !== undefined && !CERTINFO_RE.test(claimed)) {
    throw new StapFleetError('SF_USAGE', { detail: `--server ${spec}: certinfo must be hex pairs joined by ':' (e.g. 00:cc:24:bf:1d)` });
  }
  const address = m[1]!;
  return { name: where, address, port, claimedCertinfo: claimed, source: 'cli' };
}

/** Opens TLS to addr:port without verification, sends the 0-length trust probe, returns the peer DER. */
export function fetchPresentedCertificate(address: string, port: number, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket = tlsConnect({ host: address, port, rejectUnauthorized: false, servername: undefined });
    const done = (err: Error | null, der?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(der!);
    };
    const timer = setTimeout(() => done(new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(false);
      const der = peer && (peer as { raw?: Buffer }).raw;
      if (!der || der.length === 0) return done(new Error('the server presented no certificate'));
      // stap's trust probe: a zero request length, to which the server replies by closing.
      socket.write(Buffer.alloc(4), () => done(null, Buffer.from(der)));
    });
    socket.once('error', (err) => done(err));
  });
}

export interface CollectOptions {
  timeoutMs?: number;
  now?: Date;
  /** Injected for unit tests of the decision logic; defaults to fetchPresentedCertificate. */
  fetch?: (address: string, port: number, timeoutMs: number) => Promise<Buffer>;
}

/** Decides what to do with one presented certificate (pure). */
export function judgeCertificate(cand: ServerCandidate, der: Buffer, now: Date): Omit<CollectedServer, 'durationMs'> {
  let certinfo: string;
  let notAfter: Date;
  try {
    certinfo = certinfoOf(der);
    notAfter = new Date(new X509Certificate(der).validTo);
  } catch (err) {
    return { ...cand, status: 'invalid', shortMessage: `${cand.name}: unreadable certificate: ${(err as Error).message}` };
  }
  const base = { ...cand, certinfo, der, sha256: sha256Hex(der), notAfter: notAfter.toISOString() };
  if (cand.claimedCertinfo !== undefined && cand.claimedCertinfo !== certinfo) {
    return {
      ...base,
      status: 'spoof',
      shortMessage: `${cand.name}: possible spoof: advertised certinfo ${cand.claimedCertinfo} but the server presents ${certinfo}; skipped`,
    };
  }
  if (cand.sshDer && !cand.sshDer.equals(der)) {
    return {
      ...base,
      status: 'spoof',
      shortMessage: `${cand.name}: possible spoof: the server at ${cand.address}:${cand.port} presents ${certinfo}, not the stap.cert read from its host over SSH; skipped`,
    };
  }
  if (notAfter.getTime() <= now.getTime()) {
    return { ...base, status: 'invalid', shortMessage: `${cand.name}: certificate ${certinfo} expired on ${notAfter.toISOString()}; skipped` };
  }
  return { ...base, status: 'ok' };
}

/** Fetches and checks every candidate in parallel. Same address:port with the same claim is asked once. */
export async function collectServers(cands: ServerCandidate[], opts: CollectOptions = {}): Promise<CollectedServer[]> {
  const fetch = opts.fetch ?? fetchPresentedCertificate;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const unique = dedupeCandidates(cands);
  return Promise.all(
    unique.map(async (cand) => {
      const t0 = performance.now();
      try {
        const der = await fetch(cand.address, cand.port, timeoutMs);
        return { ...judgeCertificate(cand, der, opts.now ?? new Date()), durationMs: performance.now() - t0 };
      } catch (err) {
        // A server host reached over SSH whose port the controller cannot reach: its stap.cert, read
        // from the host itself, is the certificate (still checked for its serial and validity).
        if (cand.sshDer) {
          const judged = judgeCertificate(cand, cand.sshDer, opts.now ?? new Date());
          const note = `not reachable over TLS from here (${(err as Error).message}); using its stap.cert read over SSH`;
          return { ...judged, shortMessage: judged.shortMessage ?? `${cand.name}: ${note}`, durationMs: performance.now() - t0 };
        }
        return {
          ...cand,
          status: 'unreachable' as const,
          shortMessage: `${cand.name}: cannot fetch the certificate: ${(err as Error).message}`,
          durationMs: performance.now() - t0,
        };
      }
    }),
  );
}

export function dedupeCandidates(cands: ServerCandidate[]): ServerCandidate[] {
  const seen = new Map<string, ServerCandidate>();
  for (const c of cands) {
    const key = `${c.address}|${c.port}|${c.claimedCertinfo ?? ''}`;
    if (!seen.has(key)) seen.set(key, c);
  }
  return [...seen.values()];
}

// ---------------------------------------------------------------------------------------------------
// mDNS: _stap._tcp advertisements (from the fleet's discovery module) as candidates.

/** The subset of a discovered advertisement we use (matches src/fleet/targets/discovery.ts Advertisement). */
export interface StapAdvertisement {
  host: string;
  srvHost?: string;
  port: number;
  addresses: string[];
  txt: Record<string, string>;
}

/** One candidate per advertised server; IPv4 preferred (what stap's Avahi browse resolves first). */
export function candidatesFromAdvertisements(ads: StapAdvertisement[], filter: { release?: string; arch?: string } = {}): ServerCandidate[] {
  const out: ServerCandidate[] = [];
  for (const ad of ads) {
    const [release, arch] = (ad.txt.sysinfo ?? '').split(' ');
    if (filter.release && release !== filter.release) continue;
    if (filter.arch && arch !== filter.arch) continue;
    const address = ad.addresses.find((a) => !a.includes(':')) ?? ad.addresses[0];
    if (!address || !(ad.port > 0)) continue;
    const claimed = ad.txt.certinfo?.toLowerCase();
    out.push({
      name: `${ad.host}:${ad.port}`,
      address,
      port: ad.port,
      // An advertisement without a well-formed certinfo claims nothing checkable: keep it as an
      // impossible claim so it is refused rather than trusted blindly.
      claimedCertinfo: claimed && CERTINFO_RE.test(claimed) ? claimed : 'none',
      source: 'mdns',
      host: ad.srvHost ?? ad.host,
      sysinfo: ad.txt.sysinfo,
      version: ad.txt.version,
    });
  }
  return out;
}

export interface BrowseOptions {
  /** Hard cap (default 3000 ms). */
  maxMs?: number;
  /** Browse at least this long (default 1600 ms): long enough for the repeated queries below. */
  minMs?: number;
  /** After minMs, stop once no answer came for this long (default 400 ms). */
  quietMs?: number;
}

/**
 * Browses `_stap._tcp` for trust. A missed server means a client left untrusted, so browse longer than the
 * fleet's quick discovery: at least minMs, with a second re-query after the first second (the start of
 * RFC 6762 5.2's continuous querying).
 */
export async function browseStapServers(opts: BrowseOptions = {}): Promise<StapAdvertisement[]> {
  const maxMs = opts.maxMs ?? 3000;
  const ads = await browse({
    types: ['server'],
    maxMs,
    minMs: Math.min(opts.minMs ?? 1600, maxMs),
    quietMs: opts.quietMs ?? 400,
    idleMs: Math.min(opts.minMs ?? 1600, maxMs),
    requeryMs: [300, 1250],
  });
  return ads
    .filter((ad) => ad.port > 0)
    .map((ad) => ({ host: stripLocal(ad.srvHost), srvHost: ad.srvHost, port: ad.port, addresses: ad.addresses, txt: ad.txt }));
}

function stripLocal(host: string): string {
  return host.replace(/\.$/, '').replace(/\.local$/i, '');
}

// ---------------------------------------------------------------------------------------------------
// Servers read from their hosts over SSH: `stap-server status --json`, then each stap.cert.

export interface StatusServer {
  state?: string;
  port?: number | null;
  certinfo?: string | null;
  sslDir?: string | null;
  pid?: number;
}

/** Running servers with a port and an ssl dir, from a `stap-server status --json` document. */
export function runningServersOf(statusJson: string): StatusServer[] {
  let doc: { servers?: StatusServer[] };
  try {
    doc = JSON.parse(statusJson) as { servers?: StatusServer[] };
  } catch {
    return [];
  }
  return (doc.servers ?? []).filter((x) => x.state === 'running' && typeof x.port === 'number' && x.port > 0 && typeof x.sslDir === 'string' && x.sslDir.startsWith('/'));
}

/** Base64 output of `base64 < stap.cert` back to DER (whitespace ignored). */
export function derFromBase64Output(stdout: string): Buffer | undefined {
  const b64 = stdout.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) return undefined;
  const der = Buffer.from(b64, 'base64');
  return der.length > 0 ? der : undefined;
}
