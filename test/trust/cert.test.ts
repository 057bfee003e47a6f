import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, statSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  certinfoOf, serialFor, generateServerCertificate, ensureServerCertificate, checkServerCertificate, writeFileAtomic,
} from '../../src/trust/cert.js';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'sf-cert-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('server certificate', () => {
  it('has the subject, serial shape, SAN, usages and validity stap-serverd uses', async () => {
    const now = new Date('2026-11-26T05:00:00Z');
    const c = await generateServerCertificate({ hostname: 'h1', now });
    const x = new X509Certificate(c.certDer);
    expect(x.subject.split('\n').sort()).toEqual(['CN=Systemtap Compile Server', 'OU=Systemtap']);
    expect(x.issuer).toBe(x.subject);
    expect(x.subjectAltName).toBe('DNS:h1, DNS:h1.local');
    expect(c.certinfo).toMatch(/^00:[89a-f][0-9a-f](:[0-9a-f]{2}){3}$/); // 5 fields, sign byte, like PR_Now()>>19
    expect(c.certinfo).toBe(certinfoOf(c.certDer));
    expect(x.publicKey.asymmetricKeyDetails?.modulusLength).toBeGreaterThanOrEqual(2048);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.3']));
    const days = (new Date(x.validTo).getTime() - now.getTime()) / 86400_000;
    expect(Math.round(days)).toBe(365);
    // openssl agrees on the serial: 0x<certinfo without 00 and colons>
    const text = execFileSync('openssl', ['x509', '-inform', 'der', '-noout', '-serial'], { input: c.certDer }).toString();
    expect(text.trim().toLowerCase()).toBe(`serial=${c.certinfo.replace(/:/g, '').replace(/^00/, '')}`);
  });

  it('serial has the 5-byte shape of stap-serverd\'s, is random, and never repeats the serial being replaced', () => {
    expect(serialFor(undefined, () => 0x4c24bf1d)).toBe('00cc24bf1d');
    const draws = [0x4c24bf1d, 0x4c24bf1d, 0x1234];
    expect(serialFor('00:cc:24:bf:1d', () => draws.shift()!)).toBe('0080001234');
    const many = new Set(Array.from({ length: 1000 }, () => serialFor()));
    expect(many.size).toBeGreaterThan(995);
    for (const s of many) expect(s).toMatch(/^00[89a-f][0-9a-f]{7}$/);
  });

  it('ensure writes stap.cert (DER, 0644) and stap.key (0600) once, then reuses them', async () => {
    const ssl = join(dir, 'ssl');
    const first = await ensureServerCertificate(ssl, { hostname: 'h1' });
    expect(first.generated).toBe(true);
    expect(statSync(join(ssl, 'stap.cert')).mode & 0o777).toBe(0o644);
    expect(statSync(join(ssl, 'stap.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(ssl, 'stap.cert')).equals(first.certDer)).toBe(true);
    const again = await ensureServerCertificate(ssl, { hostname: 'h1' });
    expect(again.generated).toBe(false);
    expect(again.certinfo).toBe(first.certinfo);
  });

  it('regenerates when the certificate is missing, corrupt, expired or does not match the key', async () => {
    const ssl = join(dir, 'regen');
    const a = await ensureServerCertificate(ssl);
    writeFileSync(join(ssl, 'stap.cert'), 'garbage');
    expect(checkServerCertificate(ssl)).toMatchObject({ ok: false, reason: expect.stringMatching(/not a valid certificate/) });
    const b = await ensureServerCertificate(ssl, { avoidCertinfo: a.certinfo });
    expect(b.generated).toBe(true);
    expect(b.certinfo).not.toBe(a.certinfo);

    const old = await generateServerCertificate({ now: new Date('2020-01-01T00:00:00Z') });
    writeFileAtomic(join(ssl, 'stap.key'), old.keyPem, 0o600);
    writeFileAtomic(join(ssl, 'stap.cert'), old.certDer, 0o644);
    expect(checkServerCertificate(ssl)).toMatchObject({ ok: false, reason: 'certificate has expired' });
    const c = await ensureServerCertificate(ssl);
    expect(c.generated).toBe(true);
    expect(c.reason).toBe('certificate has expired');

    const other = await generateServerCertificate();
    writeFileAtomic(join(ssl, 'stap.key'), other.keyPem, 0o600);
    expect(checkServerCertificate(ssl)).toMatchObject({ ok: false, reason: expect.stringMatching(/does not match/) });
    mkdirSync(join(dir, 'empty'));
    expect(checkServerCertificate(join(dir, 'empty'))).toMatchObject({ ok: false, reason: expect.stringMatching(/does not exist/) });
  });
});
