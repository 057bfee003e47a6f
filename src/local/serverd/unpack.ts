/**
 * Unpacks a request zip into a private directory with strict checks. Every refusal is a
 * RequestRefusal whose message goes back to the client. Nothing is written outside `dir`: names are
 * checked (no absolute path, no `..`, no backslash, no NUL), symbolic links and special files are
 * refused (the real client builds its zip with `zip -r`, which follows links, so it never sends any),
 * files are created with O_EXCL (a duplicate name cannot overwrite), and the entry count and the
 * declared total size are bounded before anything is extracted; yauzl makes each entry's stream fail
 * if it inflates to more than its declared size, so the declared total bounds the real total (zip bombs).
 */
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { resolve, sep, dirname } from 'node:path';

export class RequestRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RequestRefusal';
  }
}

export interface UnpackLimits {
  maxUncompressed: number;
  maxEntries: number;
}

export const DEFAULT_MAX_ENTRIES = 10_000;

export interface UnpackResult {
  entries: number;
  totalBytes: number;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

function openZip(zip: Buffer): Promise<ZipFile> {
  return new Promise((ok, ko) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: true }, (err, zf) => {
      if (err || !zf) ko(new RequestRefusal(`The request is not a valid zip file: ${err?.message ?? 'unreadable'}`));
      else ok(zf);
    });
  });
}

function readAllEntries(zf: ZipFile, maxEntries: number): Promise<Entry[]> {
  return new Promise((ok, ko) => {
    const entries: Entry[] = [];
    zf.on('entry', (e: Entry) => {
      entries.push(e);
      zf.readEntry();
    });
    zf.on('end', () => ok(entries));
    zf.on('error', (err: Error) => ko(new RequestRefusal(`The request is not a valid zip file: ${err.message}`)));
    if (zf.entryCount > maxEntries) {
      ko(new RequestRefusal(`The request has ${zf.entryCount} entries; this server accepts at most ${maxEntries}.`));
      return;
    }
    zf.readEntry();
  });
}

/** Unix file type of an entry, or undefined when the zip was not made on Unix. */
function unixType(e: Entry): number | undefined {
  const madeBy = e.versionMadeBy >> 8;
  if (madeBy !== 3 && madeBy !== 19) return undefined; // 3 = Unix, 19 = OS X
  const mode = (e.externalFileAttributes >>> 16) & 0xffff;
  return mode === 0 ? undefined : mode & S_IFMT;
}

export function checkEntryName(name: string): string | undefined {
  if (name.length === 0) return 'an entry has an empty name';
  if (name.includes('\0')) return `entry name contains NUL: ${JSON.stringify(name)}`;
  if (name.includes('\\')) return `entry name contains a backslash: ${JSON.stringify(name)}`;
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return `absolute path in request: ${JSON.stringify(name)}`;
  if (name.split('/').some((c) => c === '..')) return `path traversal in request: ${JSON.stringify(name)}`;
  if (name.length > 4096) return 'entry name too long';
  return undefined;
}

const STREAM_ABOVE = 1024 * 1024;

function openEntry(zf: ZipFile, e: Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((ok, ko) => zf.openReadStream(e, (err, stream) => (err || !stream ? ko(err ?? new Error('no stream')) : ok(stream))));
}

/** The entry's bytes; yauzl fails the stream if they exceed the declared size. */
async function readEntry(zf: ZipFile, e: Entry): Promise<Buffer> {
  const stream = await openEntry(zf, e);
  return new Promise((ok, ko) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('error', ko);
    stream.on('end', () => ok(Buffer.concat(parts)));
  });
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root + sep);
}

export async function unpackRequest(zip: Buffer, dir: string, limits: UnpackLimits): Promise<UnpackResult> {
  const root = resolve(dir);
  const zf = await openZip(zip);
  try {
    const entries = await readAllEntries(zf, limits.maxEntries);
    let total = 0;
    for (const e of entries) {
      const problem = checkEntryName(e.fileName);
      if (problem) throw new RequestRefusal(`Refusing the request: ${problem}`);
      const type = unixType(e);
      if (type === S_IFLNK) throw new RequestRefusal(`Refusing the request: symbolic link entry ${JSON.stringify(e.fileName)}`);
      if (type !== undefined && type !== S_IFREG && type !== S_IFDIR) {
        throw new RequestRefusal(`Refusing the request: special file entry ${JSON.stringify(e.fileName)}`);
      }
      if (e.isEncrypted()) throw new RequestRefusal(`Refusing the request: encrypted entry ${JSON.stringify(e.fileName)}`);
      total += e.uncompressedSize;
    }
    // Same check and wording as stap-serverd's `unzip -Zt` test.
    if (total < 1 || total > limits.maxUncompressed) {
      throw new RequestRefusal(
        `Uncompressed request size of ${total} bytes is not within the expected range of 1 to ${limits.maxUncompressed} bytes.`,
      );
    }
    for (const e of entries) {
      const target = resolve(root, e.fileName);
      if (!inside(root, target)) throw new RequestRefusal(`Refusing the request: ${JSON.stringify(e.fileName)} leaves the request directory`);
      if (e.fileName.endsWith('/') || unixType(e) === S_IFDIR) {
        mkdirSync(target, { recursive: true, mode: 0o700 });
        continue;
      }
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      try {
        // 'wx' = O_CREAT|O_EXCL: never follows or replaces anything already there. Small entries (all
        // of a typical request) go in one synchronous write, which beats a stream's thread-pool hops;
        // big ones are streamed so that memory stays bounded.
        if (e.uncompressedSize <= STREAM_ABOVE) writeFileSync(target, await readEntry(zf, e), { flag: 'wx', mode: 0o600 });
        else await pipeline(await openEntry(zf, e), createWriteStream(target, { flags: 'wx', mode: 0o600 }));
      } catch (err) {
        throw new RequestRefusal(`Unable to extract client request entry ${JSON.stringify(e.fileName)}: ${(err as Error).message}`);
      }
    }
    return { entries: entries.length, totalBytes: total };
  } finally {
    zf.close();
  }
}
