import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { unpackRequest, RequestRefusal, checkEntryName } from '../../../src/local/serverd/unpack.js';
import { makeZip } from './helpers/zip.js';

let parent: string;
let dir: string;
const limits = { maxUncompressed: 1_000_000, maxEntries: 50 };

beforeEach(() => {
  parent = mkdtempSync(join(tmpdir(), 'sf-unpack-'));
  dir = join(parent, 'request');
  mkdirSync(dir);
});
afterEach(() => rmSync(parent, { recursive: true, force: true }));

/** Everything under parent must be inside parent/request. */
function onlyRequestDir(): void {
  expect(readdirSync(parent)).toEqual(['request']);
}

async function refusal(zip: Buffer, l = limits): Promise<string> {
  const err = await unpackRequest(zip, dir, l).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestRefusal);
  onlyRequestDir();
  return (err as Error).message;
}

describe('unpackRequest', () => {
  it('extracts a client request with directories, deflated and stored files', async () => {
    const zip = makeZip([
      { name: 'version', data: '4.8' },
      { name: 'script/', mode: 0o040755 },
      { name: 'script/tmp/x/hello.stp', data: 'probe begin { exit() }\n'.repeat(50), deflate: true },
      { name: 'argv1', data: 'script/tmp/x/hello.stp' },
    ]);
    const r = await unpackRequest(zip, dir, limits);
    expect(r.entries).toBe(4);
    expect(readFileSync(join(dir, 'script/tmp/x/hello.stp'), 'utf8')).toBe('probe begin { exit() }\n'.repeat(50));
    expect(readFileSync(join(dir, 'argv1'), 'utf8')).toBe('script/tmp/x/hello.stp');
    expect(lstatSync(join(dir, 'argv1')).mode & 0o777).toBe(0o600);
    onlyRequestDir();
  });

  it('refuses path traversal', async () => {
    expect(await refusal(makeZip([{ name: 'version', data: '4.8' }, { name: 'a/../../evil', data: 'x' }]))).toMatch(/traversal|invalid relative path/);
    expect(existsSync(join(parent, 'evil'))).toBe(false);
  });

  it('refuses absolute paths', async () => {
    expect(await refusal(makeZip([{ name: '/tmp/sf-evil-abs', data: 'x' }]))).toMatch(/absolute path/);
    expect(existsSync('/tmp/sf-evil-abs')).toBe(false);
  });

  it('refuses symbolic link entries, even pointing inside', async () => {
    expect(await refusal(makeZip([{ name: 'link', data: '/etc/passwd', mode: 0o120777 }]))).toMatch(/symbolic link/);
    expect(await refusal(makeZip([{ name: 'link', data: 'argv1', mode: 0o120777 }]))).toMatch(/symbolic link/);
  });

  it('refuses special files and backslashes', async () => {
    expect(await refusal(makeZip([{ name: 'fifo', data: '', mode: 0o010644 }]))).toMatch(/special file/);
    expect(await refusal(makeZip([{ name: '..\\evil', data: 'x' }]))).toMatch(/backslash|invalid/);
  });

  it('refuses too many entries before extracting any', async () => {
    const many = Array.from({ length: 51 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
    expect(await refusal(makeZip(many))).toMatch(/51 entries; this server accepts at most 50/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a declared total beyond --max-request-size with stap-serverd\'s wording', async () => {
    const zip = makeZip([{ name: 'big', data: Buffer.alloc(2000), deflate: true }]);
    expect(await refusal(zip, { maxUncompressed: 1000, maxEntries: 50 })).toBe(
      'Uncompressed request size of 2000 bytes is not within the expected range of 1 to 1000 bytes.',
    );
    expect(await refusal(makeZip([{ name: 'empty', data: '' }]))).toMatch(/size of 0 bytes/);
  });

  it('stops a zip bomb that lies about its size', async () => {
    // 50 MB of zeros deflate to ~50 KB; the headers claim 100 bytes.
    const zip = makeZip([{ name: 'bomb', data: Buffer.alloc(50_000_000), deflate: true, declaredSize: 100 }]);
    expect(zip.length).toBeLessThan(100_000);
    const msg = await refusal(zip);
    expect(msg).toMatch(/bomb/);
    expect(existsSync(join(dir, 'bomb')) ? lstatSync(join(dir, 'bomb')).size : 0).toBeLessThanOrEqual(100_000);
  });

  it('refuses duplicate names instead of overwriting', async () => {
    expect(await refusal(makeZip([{ name: 'argv1', data: 'a' }, { name: 'argv1', data: 'b' }]))).toMatch(/argv1/);
  });

  it('refuses data that is not a zip', async () => {
    expect(await refusal(Buffer.from('this is not a zip file at all, just text'))).toMatch(/not a valid zip/);
  });
});

describe('checkEntryName', () => {
  it('accepts names the real client sends and rejects hostile ones', () => {
    expect(checkEntryName('script/tmp/a b/x.stp')).toBeUndefined();
    expect(checkEntryName('tapset/usr/share/x/')).toBeUndefined();
    expect(checkEntryName('..')).toMatch(/traversal/);
    expect(checkEntryName('C:/x')).toMatch(/absolute/);
    expect(checkEntryName('a\0b')).toMatch(/NUL/);
  });
});

describe('unpackRequest with large entries', () => {
  it('streams entries above 1 MiB and still enforces their declared size', async () => {
    const big = Buffer.alloc(3_000_000, 'a');
    const r = await unpackRequest(makeZip([{ name: 'big', data: big, deflate: true }]), dir, { maxUncompressed: 10_000_000, maxEntries: 5 });
    expect(r.totalBytes).toBe(3_000_000);
    expect(readFileSync(join(dir, 'big')).equals(big)).toBe(true);
    const lie = makeZip([{ name: 'lie', data: Buffer.alloc(9_000_000), deflate: true, declaredSize: 2_000_000 }]);
    const err = await unpackRequest(lie, join(dir, 'sub'), { maxUncompressed: 10_000_000, maxEntries: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestRefusal);
  });
});
