import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { generateServerCertificate } from '../../src/trust/cert.js';
import { signModuleFile, verifyModuleFile, verifyData, signData } from '../../src/trust/signing.js';

let dir: string;
let server: Awaited<ReturnType<typeof generateServerCertificate>>;
let other: Awaited<ReturnType<typeof generateServerCertificate>>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sf-sign-'));
  [server, other] = await Promise.all([generateServerCertificate(), generateServerCertificate()]);
  writeFileSync(join(dir, 'stap.cert'), server.certDer);
  execFileSync('sh', ['-c', `openssl x509 -inform der -in "$0/stap.cert" -noout -pubkey > "$0/pub.pem"`, dir]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function opensslVerify(hash: string, file: string, sgn: string): boolean {
  try {
    execFileSync('openssl', ['dgst', `-${hash}`, '-verify', join(dir, 'pub.pem'), '-signature', sgn, file], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

describe('module signatures (.sgn)', () => {
  it('are raw PKCS#1 v1.5 signatures that openssl verifies, SHA-1 and SHA-256', () => {
    for (const hash of ['sha1', 'sha256'] as const) {
      const ko = join(dir, `m-${hash}.ko`);
      writeFileSync(ko, Buffer.from(`ELF module body ${hash}`.repeat(100)));
      const sgn = signModuleFile(ko, server.keyPem, hash);
      expect(sgn).toBe(`${ko}.sgn`);
      expect(statSync(sgn).mode & 0o777).toBe(0o664);
      expect(readFileSync(sgn).length).toBe(256); // RSA-2048
      expect(opensslVerify(hash, ko, sgn)).toBe(true);
      expect(verifyModuleFile(ko, join(dir, 'stap.cert'))).toEqual({ ok: true, hash });
      expect(verifyModuleFile(ko, server.certDer, { hash })).toEqual({ ok: true, hash });
    }
  });

  it('fail for a corrupted module, a swapped signature, or another certificate', () => {
    const a = join(dir, 'a.ko');
    const b = join(dir, 'b.ko');
    writeFileSync(a, Buffer.alloc(4096, 1));
    writeFileSync(b, Buffer.alloc(4096, 2));
    signModuleFile(a, server.keyPem, 'sha1');
    signModuleFile(b, server.keyPem, 'sha1');
    const corrupt = Buffer.from(readFileSync(a));
    corrupt[10] = corrupt[10]! ^ 0xff;
    writeFileSync(join(dir, 'c.ko'), corrupt);
    expect(verifyModuleFile(join(dir, 'c.ko'), server.certDer, { sgnFile: `${a}.sgn` }).ok).toBe(false);
    expect(opensslVerify('sha1', join(dir, 'c.ko'), `${a}.sgn`)).toBe(false);
    expect(verifyModuleFile(a, server.certDer, { sgnFile: `${b}.sgn` }).ok).toBe(false);
    expect(opensslVerify('sha1', a, `${b}.sgn`)).toBe(false);
    expect(verifyModuleFile(a, other.certDer).ok).toBe(false);
    expect(verifyData(Buffer.from('x'), Buffer.from('not a signature'), server.certDer).ok).toBe(false);
    expect(verifyData(Buffer.from('x'), signData(Buffer.from('x'), server.keyPem, 'sha1'), server.certDer, 'sha256').ok).toBe(false);
  });
});
