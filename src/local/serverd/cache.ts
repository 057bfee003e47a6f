/**
 * Response cache (our addition; stap-serverd has none): an identical request to an unchanged server
 * gets the stored response instead of another stap run. Only deterministic answers are stored:
 * rc 0, no module built or signed, no -v (timings) and no MOK list. The key covers every byte of the
 * unpacked request plus a fingerprint of what stap reads on the server side (the stap binary, its
 * tapset directory, the kernel build tree's .config, the server's -I/-R directories and options),
 * so an upgrade or a changed tapset is a miss. Bounded in entries, bytes and age.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SHORT_OPTIONS_WITH_ARGUMENT } from './command.js';

export interface CachedFile {
  path: string;
  data: Buffer;
  mode: number;
  dir: boolean;
}

interface CacheEntry {
  files: CachedFile[];
  exitCode: number;
  bytes: number;
  expires: number;
}

export interface CacheLimits {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
}

export class ResponseCache {
  private readonly entries = new Map<string, CacheEntry>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly limits: CacheLimits, private readonly now: () => number = Date.now) {}

  get enabled(): boolean {
    return this.limits.maxEntries > 0 && this.limits.ttlMs > 0;
  }

  get(key: string): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (!e || e.expires <= this.now()) {
      if (e) this.delete(key);
      this.misses++;
      return undefined;
    }
    this.entries.delete(key); // refresh LRU position
    this.entries.set(key, e);
    this.hits++;
    return e;
  }

  set(key: string, files: CachedFile[], exitCode: number): void {
    if (!this.enabled) return;
    const bytes = files.reduce((n, f) => n + f.data.length + f.path.length, 0);
    if (bytes > this.limits.maxBytes / 4) return; // one huge answer must not flush everything else
    this.delete(key);
    this.entries.set(key, { files, exitCode, bytes, expires: this.now() + this.limits.ttlMs });
    this.bytes += bytes;
    for (const [k] of this.entries) {
      if (this.entries.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      this.delete(k);
    }
  }

  private delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.bytes -= e.bytes;
    this.entries.delete(key);
  }
}

/** Every file and directory under `dir` (relative paths, sorted), with contents and modes. */
export function snapshotDir(dir: string): CachedFile[] {
  const out: CachedFile[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = statSync(join(dir, path));
      if (st.isDirectory()) {
        out.push({ path, data: Buffer.alloc(0), mode: st.mode & 0o7777, dir: true });
        walk(path);
      } else if (st.isFile()) out.push({ path, data: readFileSync(join(dir, path)), mode: st.mode & 0o7777, dir: false });
    }
  };
  walk('');
  return out;
}

export function restoreDir(dir: string, files: readonly CachedFile[]): void {
  for (const f of files) {
    const p = join(dir, f.path);
    if (f.dir) mkdirSync(p, { recursive: true, mode: f.mode });
    else {
      mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
      writeFileSync(p, f.data, { mode: f.mode });
    }
  }
}

function statStamp(path: string): string {
  try {
    const st = statSync(path);
    return `${path}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return `${path}:-`;
  }
}

/** What stap reads on the server besides the request; any change makes a different key. */
export function serverFingerprint(input: { stap: string; serverStapOptions: readonly string[]; release: string; buildTree?: string; env: NodeJS.ProcessEnv }): string {
  const stapPrefix = dirname(dirname(input.stap));
  const paths = [
    input.stap,
    join(stapPrefix, 'share', 'systemtap', 'tapset'),
    join(stapPrefix, 'share', 'systemtap', 'runtime'),
    join(input.buildTree ?? `/lib/modules/${input.release}/build`, '.config'),
    join(input.buildTree ?? `/lib/modules/${input.release}/build`, 'include', 'generated', 'utsrelease.h'),
    ...input.serverStapOptions.filter((o) => o.startsWith('-I') || o.startsWith('-R')).map((o) => o.slice(2)),
  ];
  const env = Object.keys(input.env)
    .filter((k) => k.startsWith('SYSTEMTAP_') || k === 'PATH' || k === 'HOME')
    .sort()
    .map((k) => `${k}=${input.env[k]}`);
  return [...paths.map(statStamp), ...input.serverStapOptions, input.release, ...env].join('\n');
}

/** Cache key of an unpacked request under a server fingerprint. */
export function requestKey(requestDir: string, fingerprint: string): string {
  const h = createHash('sha256').update(fingerprint).update('\0');
  for (const f of snapshotDir(requestDir)) h.update(`${f.dir ? 'd' : 'f'}\0${f.path}\0${f.data.length}\0`).update(f.data);
  return h.digest('hex');
}

/** Whether the client asked for verbose output (pass timings make such answers unrepeatable). */
export function asksVerbose(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return false;
    if (a.startsWith('--vp')) return true;
    if (a.startsWith('--') || !a.startsWith('-') || a.length < 2) continue;
    for (let j = 1; j < a.length; j++) {
      if (a[j] === 'v') return true;
      if (SHORT_OPTIONS_WITH_ARGUMENT.has(a[j]!)) {
        if (j === a.length - 1) i++;
        break;
      }
    }
  }
  return false;
}
