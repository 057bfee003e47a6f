/**
 * The compile server's certificate: generation (node:crypto RSA key + node-forge X.509), validation,
 * the on-disk layout of the SSL directory (stap.cert DER 0644, stap.key PEM 0600) and certinfo.
 *
 * certinfo is what SystemTap calls a server's identity: the certificate serial's DER content bytes as
 * lowercase hex pairs joined by ':'. stap-serverd uses PR_Now() >> 19, a 32-bit value with its top bit
 * set until 2041, so the DER integer carries a leading 00 sign byte and certinfo has 5 fields; the
 * client's `--use-server=<certinfo>` parser requires exactly 5. We build the same shape on purpose.
 */
import { generateKeyPair as generateKeyPairCb, X509Certificate, createPrivateKey, createPublicKey, randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { hostname as osHostname } from 'node:os';
import type forgeModule from 'node-forge';
import { StapFleetError } from '../errors.js';

const generateKeyPair = promisify(generateKeyPairCb);

export const CERT_FILE = 'stap.cert';
export const KEY_FILE = 'stap.key';
export const SUBJECT_CN = 'Systemtap Compile Server';
export const SUBJECT_OU = 'Systemtap';
export const DEFAULT_KEY_BITS = 2048;
const VALIDITY_DAYS = 365;

export interface ServerCredentials {
  /** DER bytes of the certificate, exactly what stap.cert holds. */
  certDer: Buffer;
  certPem: string;
  keyPem: string;
  certinfo: string;
  notBefore: Date;
  notAfter: Date;
  /** True when this call generated a new certificate (missing, invalid or expired before). */
  generated: boolean;
  /** Why the previous files were not reused (only when generated). */
  reason?: string;
}

export interface GenerateOptions {
  hostname?: string;
  now?: Date;
  keyBits?: number;
  /** Serial (certinfo) that must not be reused, e.g. that of the certificate being replaced. */
  avoidCertinfo?: string;
  /** A given serial (10 hex digits, e.g. '00cc24bf1d') instead of a random one: tests that need a certinfo twice. */
  serialHex?: string;
  validityDays?: number;
}

/** node-forge is only needed to build a certificate; loading it lazily keeps daemon start-up short. */
async function loadForge(): Promise<typeof forgeModule> {
  return (await import('node-forge')).default;
}

/** One DER TLV at `offset`: tag, content start and end. */
function derItem(der: Buffer, offset: number): { tag: number; start: number; end: number } {
  if (offset + 2 > der.length) throw new Error('truncated DER');
  const tag = der[offset]!;
  let len = der[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > der.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  if (start + len > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

/** certinfo of a DER certificate: serial content bytes as lowercase hex pairs joined by ':'. */
export function certinfoOf(der: Buffer): string {
  // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, ... } ... }
  const cert = derItem(der, 0);
  if (cert.tag !== 0x30) throw new Error('not an X.509 certificate');
  const tbs = derItem(der, cert.start);
  if (tbs.tag !== 0x30) throw new Error('not an X.509 certificate');
  let item = derItem(der, tbs.start);
  if (item.tag === 0xa0) item = derItem(der, item.end);
  if (item.tag !== 0x02 || item.end === item.start) throw new Error('certificate has no serial number');
  return hexPairs(der.subarray(item.start, item.end));
}

/** certinfo of a DER certificate file such as stap.cert. */
export function certinfoOfFile(file: string): string {
  return certinfoOf(readFileSync(file));
}

function hexPairs(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * 5-byte positive serial (00 sign byte + 4 bytes with the top bit set), the shape of stap-serverd's
 * PR_Now() >> 19, so certinfo has the 5 fields `stap --use-server=<certinfo>` requires. Random rather than
 * time-based: servers whose certificates are made in the same half second (a `start` of several servers)
 * would otherwise share a certinfo, and NSS refuses a second certificate with the same issuer and serial.
 */
export function serialFor(avoidCertinfo?: string, random: () => number = () => randomInt(0, 0x80000000)): string {
  const hex = (v: number): string => '00' + v.toString(16).padStart(8, '0');
  for (;;) {
    const value = (random() | 0x80000000) >>> 0;
    if (hexPairs(Buffer.from(hex(value), 'hex')) !== avoidCertinfo) return hex(value);
  }
}

/** Generates a new self-signed server certificate (does not write it). */
export async function generateServerCertificate(opts: GenerateOptions = {}): Promise<Omit<ServerCredentials, 'generated'>> {
  const forge = await loadForge();
  const now = opts.now ?? new Date();
  const host = opts.hostname ?? osHostname();
  const { publicKey, privateKey } = await generateKeyPair('rsa', {
    modulusLength: Math.max(opts.keyBits ?? DEFAULT_KEY_BITS, 2048),
    publicExponent: 0x10001,
  });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
  const forgePub = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());

  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePub;
  cert.serialNumber = opts.serialHex ?? serialFor(opts.avoidCertinfo);
  // Backdate a little so that a client with a slightly slow clock accepts a fresh certificate.
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + (opts.validityDays ?? VALIDITY_DAYS) * 86400_000);
  const attrs = [
    { name: 'commonName', value: SUBJECT_CN },
    { name: 'organizationalUnitName', value: SUBJECT_OU },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  const shortHost = host.split('.')[0] ?? host;
  const altNames = [{ type: 2, value: host }];
  if (!host.endsWith('.local')) altNames.push({ type: 2, value: `${shortHost}.local` });
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true, codeSigning: true },
    // NSS (the stap client) honours the Netscape type: SSL server + object signing, like stap-serverd.
    { name: 'nsCertType', server: true, objsign: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forgeKey, forge.md.sha256.create());
  const certDer = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return {
    certDer,
    certPem: forge.pki.certificateToPem(cert),
    keyPem,
    certinfo: certinfoOf(certDer),
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
  };
}

export type CertCheck =
  | { ok: true; credentials: Omit<ServerCredentials, 'generated'> }
  | { ok: false; reason: string; certinfo?: string };

/** Reads and validates the SSL dir's certificate and key: present, parseable, matching, current, ours. */
export function checkServerCertificate(sslDir: string, now: Date = new Date()): CertCheck {
  const certPath = join(sslDir, CERT_FILE);
  const keyPath = join(sslDir, KEY_FILE);
  if (!existsSync(certPath)) return { ok: false, reason: `${certPath} does not exist` };
  if (!existsSync(keyPath)) return { ok: false, reason: `${keyPath} does not exist` };
  let certDer: Buffer;
  let keyPem: string;
  try {
    certDer = readFileSync(certPath);
    keyPem = readFileSync(keyPath, 'utf8');
  } catch (err) {
    return { ok: false, reason: `cannot read: ${(err as Error).message}` };
  }
  let x509: X509Certificate;
  let certinfo: string;
  try {
    x509 = new X509Certificate(certDer);
    certinfo = certinfoOf(certDer);
  } catch (err) {
    return { ok: false, reason: `${certPath} is not a valid certificate: ${(err as Error).message}` };
  }
  try {
    const key = createPrivateKey(keyPem);
    if (!x509.checkPrivateKey(key)) return { ok: false, reason: `${keyPath} does not match ${certPath}`, certinfo };
  } catch (err) {
    return { ok: false, reason: `${keyPath} is not a valid private key: ${(err as Error).message}`, certinfo };
  }
  const notBefore = new Date(x509.validFrom);
  const notAfter = new Date(x509.validTo);
  if (now < notBefore) return { ok: false, reason: 'certificate is not yet valid', certinfo };
  if (now >= notAfter) return { ok: false, reason: 'certificate has expired', certinfo };
  if (!x509.subject.includes(`CN=${SUBJECT_CN}`)) return { ok: false, reason: 'certificate subject is not a compile server', certinfo };
  if (!x509.verify(createPublicKey(x509.publicKey.export({ type: 'spki', format: 'pem' })))) {
    return { ok: false, reason: 'certificate is not self-signed', certinfo };
  }
  const certPem = x509.toString();
  return { ok: true, credentials: { certDer, certPem, keyPem, certinfo, notBefore, notAfter } };
}

/** Writes a file atomically (temp + rename) with the given mode. */
export function writeFileAtomic(path: string, data: string | Buffer, mode: number): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode); // the umask may have narrowed it
  renameSync(tmp, path);
}

/**
 * Returns valid credentials from sslDir, generating and writing new ones when the files are missing,
 * invalid or expired. The key is written first: a crash in between leaves a mismatch that the next
 * check detects, never a certificate without its key.
 */
export async function ensureServerCertificate(
  sslDir: string,
  opts: GenerateOptions = {},
): Promise<ServerCredentials> {
  const check = checkServerCertificate(sslDir, opts.now);
  if (check.ok) return { ...check.credentials, generated: false };
  try {
    mkdirSync(sslDir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new StapFleetError('SF_CERT', { dir: sslDir, detail: (err as Error).message });
  }
  const fresh = await generateServerCertificate({ ...opts, avoidCertinfo: opts.avoidCertinfo ?? check.certinfo });
  try {
    writeFileAtomic(join(sslDir, KEY_FILE), fresh.keyPem, 0o600);
    writeFileAtomic(join(sslDir, CERT_FILE), fresh.certDer, 0o644);
  } catch (err) {
    throw new StapFleetError('SF_CERT', { dir: sslDir, detail: (err as Error).message });
  }
  return { ...fresh, generated: true, reason: check.reason };
}
