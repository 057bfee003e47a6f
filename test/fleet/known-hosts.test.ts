import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  fingerprint,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  recordHostKey,
  verifyHostKey,
} from '../../src/fleet/transport/known-hosts.js';

/** Real keys from ssh-keygen; blobs are what an SSH server offers in the key exchange. */
let dir: string;
const keys: Record<string, { line: string; blob: Buffer; fp: string }> = {};
function keygen(name: string, type: string) {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', f]);
  const line = readFileSync(`${f}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const blob = Buffer.from(line.split(' ')[1]!, 'base64');
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${f}.pub`], { encoding: 'utf8' }).split(/\s+/)[1]!;
  keys[name] = { line, blob, fp };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kh-'));
  keygen('a', 'ed25519');
  keygen('b', 'ed25519');
  keygen('r', 'rsa');
});

describe('known_hosts', () => {
  it('computes the same SHA256 fingerprint as ssh-keygen -l', () => {
    expect(fingerprint(keys.a!.blob)).toBe(keys.a!.fp);
    expect(fingerprint(keys.r!.blob)).toBe(keys.r!.fp);
  });

  it('matches plain entries, [host]:port and patterns with negation', () => {
    const lines = parseKnownHosts(
      [`10.0.0.1,web ${keys.a!.line}`, `[10.0.0.2]:2222 ${keys.b!.line}`, `*.lab,!bad.lab ${keys.r!.line}`].join('\n'),
      'kh',
    );
    expect(verifyHostKey(lines, '10.0.0.1', 22, keys.a!.blob).kind).toBe('ok');
    expect(verifyHostKey(lines, 'web', 22, keys.a!.blob).kind).toBe('ok');
    expect(verifyHostKey(lines, '10.0.0.2', 2222, keys.b!.blob).kind).toBe('ok');
    // Same address, port 22: a different known_hosts name, so unknown.
    expect(verifyHostKey(lines, '10.0.0.2', 22, keys.b!.blob).kind).toBe('unknown');
    expect(verifyHostKey(lines, 'x.lab', 22, keys.r!.blob).kind).toBe('ok');
    expect(verifyHostKey(lines, 'bad.lab', 22, keys.r!.blob).kind).toBe('unknown');
  });

  it('matches hashed entries written by ssh-keygen -H', () => {
    const f = join(dir, 'hashed');
    writeFileSync(f, `10.0.0.9 ${keys.a!.line}\n[10.0.0.9]:2200 ${keys.b!.line}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', f]);
    const text = readFileSync(f, 'utf8');
    expect(text).toMatch(/^\|1\|/m);
    expect(text).not.toContain('10.0.0.9');
    const lines = parseKnownHosts(text, f);
    expect(verifyHostKey(lines, '10.0.0.9', 22, keys.a!.blob).kind).toBe('ok');
    expect(verifyHostKey(lines, '10.0.0.9', 2200, keys.b!.blob).kind).toBe('ok');
    expect(verifyHostKey(lines, '10.0.0.8', 22, keys.a!.blob).kind).toBe('unknown');
  });

  it('reports a mismatch with the expected fingerprint and the file:line', () => {
    const lines = parseKnownHosts(`# c\nh1 ${keys.a!.line}\n`, '/u/kh');
    const v = verifyHostKey(lines, 'h1', 22, keys.b!.blob);
    expect(v.kind).toBe('mismatch');
    if (v.kind !== 'mismatch') throw new Error('unreachable');
    expect(v.expected).toEqual([keys.a!.fp]);
    expect(v.lines[0]).toMatchObject({ file: '/u/kh', line: 2 });
  });

  it('refuses @revoked keys and reports @cert-authority-only hosts', () => {
    const lines = parseKnownHosts(
      [`h1 ${keys.a!.line}`, `@revoked h1 ${keys.a!.line}`, `@cert-authority *.ca ${keys.r!.line}`].join('\n'),
      'kh',
    );
    expect(verifyHostKey(lines, 'h1', 22, keys.a!.blob).kind).toBe('revoked');
    expect(verifyHostKey(lines, 'x.ca', 22, keys.b!.blob).kind).toBe('cert-authority-only');
  });

  it('combines the user file and the system-wide file', () => {
    const user = parseKnownHosts(`h1 ${keys.a!.line}`, 'user');
    const system = parseKnownHosts(`h2 ${keys.b!.line}`, '/etc/ssh/ssh_known_hosts');
    expect(verifyHostKey([...user, ...system], 'h2', 22, keys.b!.blob)).toMatchObject({ kind: 'ok', line: { file: '/etc/ssh/ssh_known_hosts' } });
  });

  it('prefers the host-key algorithms already known for the host', () => {
    const lines = parseKnownHosts(`h1 ${keys.r!.line}`, 'kh');
    expect(preferredHostKeyAlgorithms(lines, 'h1', 22)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(preferredHostKeyAlgorithms(lines, 'h2', 22)).toEqual([]);
  });

  it('records accepted keys atomically in a form ssh-keygen -F finds', async () => {
    const f = join(dir, 'sub', 'known_hosts');
    await Promise.all([recordHostKey(f, '10.1.1.1', 22, keys.a!.blob), recordHostKey(f, '10.1.1.2', 2222, keys.b!.blob)]);
    const lines = parseKnownHosts(readFileSync(f, 'utf8'), f);
    expect(lines).toHaveLength(2);
    expect(execFileSync('ssh-keygen', ['-F', '[10.1.1.2]:2222', '-f', f], { encoding: 'utf8' })).toContain(keys.b!.line.split(' ')[1]);
    expect(verifyHostKey(lines, '10.1.1.1', 22, keys.a!.blob).kind).toBe('ok');
  });
});
