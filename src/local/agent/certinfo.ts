/**
 * certinfo as stap-serverd advertises it: the certificate serial number's DER content bytes as lowercase hex
 * pairs joined by ':' (e.g. 00:cc:24:bf:1d; the leading 00 is the sign byte). Read straight from stap.cert (DER).
 */
import { readFileSync } from 'node:fs';

interface Tlv {
  tag: number;
  start: number; // offset of the content
  end: number; // offset after the content
}

function readTlv(buf: Buffer, offset: number): Tlv {
  const tag = buf[offset];
  let len = buf[offset + 1];
  if (tag === undefined || len === undefined) throw new Error('truncated DER');
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] ?? 0);
    start += n;
  }
  if (start + len > buf.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

/** Serial of a DER X.509 certificate, formatted as certinfo. Throws on malformed input. */
export function certinfoFromDer(der: Buffer): string {
  const cert = readTlv(der, 0);
  if (cert.tag !== 0x30) throw new Error('not a DER certificate');
  const tbs = readTlv(der, cert.start);
  if (tbs.tag !== 0x30) throw new Error('not a DER certificate');
  let field = readTlv(der, tbs.start);
  if (field.tag === 0xa0) field = readTlv(der, field.end); // explicit [0] version
  if (field.tag !== 0x02) throw new Error('certificate has no serial number');
  return [...der.subarray(field.start, field.end)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function certinfoFromFile(file: string): string {
  return certinfoFromDer(readFileSync(file));
}
