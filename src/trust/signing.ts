/**
 * Module signatures as SystemTap's compile server makes them and staprun checks them: a `.sgn` file
 * next to the module holding a raw PKCS#1 v1.5 RSA signature over the whole file. SystemTap up to 5.4
 * signs with SHA-1 (and 4.8's staprun takes the hash from the DigestInfo); 5.5 switched to SHA-256
 * and its staprun tries SHA-256, then SHA-1. The compile server picks the hash from the client's version.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';

export type SignatureHash = 'sha1' | 'sha256';

/** PKCS#1 v1.5 signature of `data` with an RSA private key (PEM or KeyObject). */
export function signData(data: Buffer, privateKey: string | KeyObject, hash: SignatureHash): Buffer {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  return cryptoSign(hash, data, key);
}

/** Signs a module file into `<file>.sgn` (mode 0664, as stap-serverd) and returns the .sgn path. */
export function signModuleFile(file: string, privateKey: string | KeyObject, hash: SignatureHash): string {
  const sgn = `${file}.sgn`;
  writeFileSync(sgn, signData(readFileSync(file), privateKey, hash), { mode: 0o664 });
  chmodSync(sgn, 0o664);
  return sgn;
}

function publicKeyOfCertificate(cert: Buffer | string | X509Certificate): KeyObject {
  const x509 = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  return createPublicKey(x509.publicKey.export({ type: 'spki', format: 'pem' }));
}

export interface SignatureCheck {
  ok: boolean;
  /** The hash that verified (only when ok). */
  hash?: SignatureHash;
}

/**
 * Verifies a PKCS#1 v1.5 signature of `data` against a certificate (DER, PEM or X509Certificate).
 * Without `hash`, accepts SHA-256 then SHA-1, as SystemTap 5.5's staprun does; nothing weaker.
 */
export function verifyData(
  data: Buffer,
  signature: Buffer,
  cert: Buffer | string | X509Certificate,
  hash?: SignatureHash,
): SignatureCheck {
  const key = publicKeyOfCertificate(cert);
  for (const h of hash ? [hash] : (['sha256', 'sha1'] as const)) {
    try {
      if (cryptoVerify(h, data, key, signature)) return { ok: true, hash: h };
    } catch {
      /* malformed signature: not ok */
    }
  }
  return { ok: false };
}

/** Verifies `<file>.sgn` (or `sgnFile`) against a certificate file or bytes. */
export function verifyModuleFile(file: string, cert: Buffer | string, opts: { sgnFile?: string; hash?: SignatureHash } = {}): SignatureCheck {
  const certBytes = typeof cert === 'string' && !cert.includes('-----BEGIN') ? readFileSync(cert) : cert;
  return verifyData(readFileSync(file), readFileSync(opts.sgnFile ?? `${file}.sgn`), certBytes, opts.hash);
}
