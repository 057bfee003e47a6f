/**
 * known_hosts verification as OpenSSH does it: plain and hashed (`|1|salt|hmac`) host fields, `[host]:port`
 * for non-22 ports, patterns with `*`/`?` and `!negation`, `@revoked` keys, and the system-wide file beside the
 * user's. `@cert-authority` lines are recognised but host certificates are not supported: a host that only
 * matches those is refused with a message saying so, never silently accepted.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KnownHostLine {
  file: string;
  line: number;
  marker?: 'revoked' | 'cert-authority';
  /** Raw host field (comma list of patterns, or one hashed entry). */
  hosts: string;
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { kind: 'ok'; line: KnownHostLine }
  | { kind: 'revoked'; line: KnownHostLine }
  | { kind: 'mismatch'; expected: string[]; lines: KnownHostLine[] }
  | { kind: 'cert-authority-only'; lines: KnownHostLine[] }
  | { kind: 'unknown' };

export function parseKnownHosts(text: string, file: string): KnownHostLine[] {
  const out: KnownHostLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostLine['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else return; // unknown marker: OpenSSH ignores the line too
    }
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64) return;
    const key = Buffer.from(b64, 'base64');
    if (key.length === 0) return;
    out.push({ file, line: i + 1, marker, hosts, keyType, key });
  });
  return out;
}

export function readKnownHostsFiles(files: string[]): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // a missing file is simply empty, as for ssh
    }
    lines.push(...parseKnownHosts(text, file));
  }
  return lines;
}

/** `host` for port 22, `[host]:port` otherwise: the name known_hosts stores. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(
    '^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$',
    'i',
  );
  return re.test(text);
}

function hashedMatch(field: string, name: string): boolean {
  const parts = field.split('|'); // ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const want = Buffer.from(parts[3]!, 'base64');
  const got = createHmac('sha1', salt).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Does the host field of a line match this known_hosts name? Negated patterns veto a match. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedMatch(field, name);
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (globMatch(pattern.slice(1), name)) return false;
    } else if (globMatch(pattern, name)) matched = true;
  }
  return matched;
}

/** OpenSSH's fingerprint: SHA256:base64(sha256(blob)) without padding. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** Key type is the first string inside the wire-format blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** Lines whose host field matches host:port (all markers). */
export function linesFor(lines: KnownHostLine[], host: string, port: number): KnownHostLine[] {
  const name = knownHostsName(host, port);
  return lines.filter((l) => hostFieldMatches(l.hosts, name));
}

export function verifyHostKey(lines: KnownHostLine[], host: string, port: number, offered: Buffer): HostKeyVerdict {
  const matching = linesFor(lines, host, port);
  const revoked = lines.find((l) => l.marker === 'revoked' && l.key.equals(offered));
  // @revoked applies whatever host pattern the line has (OpenSSH checks revocation before names).
  if (revoked) return { kind: 'revoked', line: revoked };
  const plain = matching.filter((l) => !l.marker);
  const same = plain.find((l) => l.key.equals(offered));
  if (same) return { kind: 'ok', line: same };
  // OpenSSH only calls it a mismatch when a key of the same type is known; other types it ignores.
  const offeredType = keyTypeOf(offered);
  const sameType = plain.filter((l) => keyTypeOf(l.key) === offeredType);
  if (sameType.length) return { kind: 'mismatch', expected: sameType.map((l) => fingerprint(l.key)), lines: sameType };
  if (plain.length) return { kind: 'mismatch', expected: plain.map((l) => fingerprint(l.key)), lines: plain };
  const ca = matching.filter((l) => l.marker === 'cert-authority');
  if (ca.length) return { kind: 'cert-authority-only', lines: ca };
  return { kind: 'unknown' };
}

/** Host-key algorithm names to offer first so the server shows the key type we already know. */
export function preferredHostKeyAlgorithms(lines: KnownHostLine[], host: string, port: number): string[] {
  const out: string[] = [];
  for (const l of linesFor(lines, host, port)) {
    if (l.marker) continue;
    const t = keyTypeOf(l.key);
    const algs = t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t];
    for (const a of algs) if (!out.includes(a)) out.push(a);
  }
  return out;
}

let appendChain: Promise<void> = Promise.resolve();

/**
 * Records a key accepted on first use (plain entry). Serialised in-process and written temp + rename, so
 * parallel accepts never interleave and a crash never leaves a half-written file.
 */
export function recordHostKey(file: string, host: string, port: number, key: Buffer): Promise<void> {
  const job = appendChain.then(() => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    }
    if (text && !text.endsWith('\n')) text += '\n';
    text += `${knownHostsName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}\n`;
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, file);
  });
  appendChain = job.catch(() => undefined);
  return job;
}
