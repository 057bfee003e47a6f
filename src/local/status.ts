/**
 * The status store: STAT_PATH/<pid>.stat exactly as SystemTap 4.8 writes it (so either tool reads the
 * other's), our sidecar STAT_PATH/.<pid>.stap-fleet.json beside it, atomic writes (temp + rename),
 * liveness by process identity, and the store-wide lock that serialises state-changing actions.
 */
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StapFleetError } from '../errors.js';
import { emptySpec, type ServerSpec } from './spec.js';
import { isServerAlive, makeDirs } from './system.js';

export interface Sidecar {
  pid: number;
  procStartTicks: string;
  port: number;
  certinfo: string;
  sslDir: string;
  hostname: string;
  startedAt: string;
  arch: string;
  releases: string[];
  optinfo: string;
  user: string;
  log: string;
}

export interface StatusEntry {
  pid: number;
  /** The recorded spec; nickname is '' when the file holds the pid as nickname (none given). */
  spec: ServerSpec;
  /** NICKNAME= as written (the pid when the server has no nickname). */
  shownNickname: string;
  sidecar?: Sidecar;
  statFile: string;
}

/** The .stat text in 4.8's line order. */
export function formatStat(spec: ServerSpec, pid: number): string {
  const lines = [`ARCH=${spec.arch}`, `USER=${spec.user}`];
  for (const b of spec.build) lines.push(`BUILD+=${b}`);
  for (const i of spec.include) lines.push(`INCLUDE+=${i}`);
  for (const d of spec.define) lines.push(`DEFINE+=${d}`);
  lines.push(`NICKNAME=${spec.nickname || String(pid)}`, `RUNTIME=${spec.runtime}`);
  for (const r of spec.releases) lines.push(`RELEASE+=${r}`);
  lines.push(
    `LOG=${spec.log}`,
    `PORT=${spec.port}`,
    `SSL=${spec.ssl}`,
    `MAXTHREADS=${spec.maxThreads}`,
    `MAXREQSIZE=${spec.maxRequestSize}`,
    `MAXCOMPRESSEDREQ=${spec.maxCompressedRequest}`,
  );
  return lines.join('\n') + '\n';
}

type ListKey = 'releases' | 'build' | 'include' | 'define';
type ScalarKey = Exclude<keyof ServerSpec, ListKey>;
const LISTS: Record<string, ListKey> = { RELEASE: 'releases', BUILD: 'build', INCLUDE: 'include', DEFINE: 'define' };
const SCALARS: Record<string, ScalarKey> = {
  ARCH: 'arch',
  USER: 'user',
  NICKNAME: 'nickname',
  RUNTIME: 'runtime',
  LOG: 'log',
  PORT: 'port',
  SSL: 'ssl',
  MAXTHREADS: 'maxThreads',
  MAXREQSIZE: 'maxRequestSize',
  MAXCOMPRESSEDREQ: 'maxCompressedRequest',
};

/**
 * Reads a .stat the way 4.8 reads it: literal values, `X=` resets, `X+=` appends, `X=`/`X=()` empty;
 * unknown lines are an error naming file:line.
 */
export function parseStat(text: string, file = '<stat>'): ServerSpec {
  const spec = emptySpec();
  text.split('\n').forEach((line, idx) => {
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Z]+)(\+?=)(.*)$/.exec(line);
    const key = m?.[1];
    if (!m || !key || (!(key in LISTS) && !(key in SCALARS)) || (m[2] === '+=' && !(key in LISTS))) {
      throw new StapFleetError('SF_CONFIG_SYNTAX', { file, line: idx + 1, detail: `unexpected line "${line}"` });
    }
    const value = m[3]!;
    const list = LISTS[key];
    if (list) {
      const empty = value === '' || value === '()';
      if (m[2] === '=') spec[list] = empty ? [] : [value];
      else if (!empty) spec[list].push(value);
    } else {
      spec[SCALARS[key]!] = value;
    }
  });
  return spec;
}

function writeAtomic(file: string, text: string): void {
  const tmp = join(file, '..', `.${process.pid}.${Date.now()}.tmp`);
  writeFileSync(tmp, text, { mode: 0o644 });
  // Readable by every user whatever the umask (a sudo from a umask-077 login would make it 0600).
  chmodSync(tmp, 0o644);
  renameSync(tmp, file);
}

export function sidecarPath(statPath: string, pid: number): string {
  return join(statPath, `.${pid}.stap-fleet.json`);
}

export class StatusStore {
  constructor(readonly dir: string) {}

  statFile(pid: number): string {
    return join(this.dir, `${pid}.stat`);
  }

  /**
   * A dot-file on purpose: SystemTap 4.8's script takes every name `ls STAT_PATH` prints as a server
   * (`ls | sed 's/\.stat//'`), so any visible extra file makes its status fail with rc 1.
   */
  sidecarFile(pid: number): string {
    return sidecarPath(this.dir, pid);
  }

  ensureDir(): void {
    try {
      makeDirs(this.dir);
    } catch (e) {
      throw new StapFleetError('SF_STAT_DIR', { dir: this.dir, detail: (e as Error).message });
    }
  }

  /** Every status file, sorted by pid; unreadable or malformed ones are skipped (reported by `errors`). */
  list(errors: string[] = []): StatusEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const pids = names
      .map((n) => /^(\d+)\.stat$/.exec(n)?.[1])
      .filter((p): p is string => p !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const out: StatusEntry[] = [];
    for (const pid of pids) {
      try {
        const e = this.read(pid);
        if (e) out.push(e);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    return out;
  }

  read(pid: number): StatusEntry | undefined {
    const statFile = this.statFile(pid);
    let text: string;
    try {
      text = readFileSync(statFile, 'utf8');
    } catch (e) {
      // Gone since the directory was listed (a server stopping): not a problem. Anything else is reported.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`${statFile}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const spec = parseStat(text, statFile);
    const shownNickname = spec.nickname || String(pid);
    if (spec.nickname === String(pid)) spec.nickname = '';
    let sidecar: Sidecar | undefined;
    try {
      const parsed = JSON.parse(readFileSync(this.sidecarFile(pid), 'utf8')) as Sidecar;
      if (parsed.pid === pid) sidecar = parsed;
    } catch {
      sidecar = undefined; // a server started by SystemTap's own script has none
    }
    return { pid, spec, shownNickname, sidecar, statFile };
  }

  /** Sidecar first, then the .stat, each by rename: a reader never sees half a file. */
  write(pid: number, spec: ServerSpec, sidecar: Sidecar): void {
    writeAtomic(this.sidecarFile(pid), JSON.stringify(sidecar, null, 2) + '\n');
    writeAtomic(this.statFile(pid), formatStat(spec, pid));
  }

  remove(pid: number): void {
    rmSync(this.statFile(pid), { force: true });
    rmSync(this.sidecarFile(pid), { force: true });
  }

  isAlive(e: StatusEntry): boolean {
    return isServerAlive(e.pid, e.sidecar?.procStartTicks);
  }
}

export interface StoreLock {
  release(): Promise<void>;
}

/**
 * Takes the store's exclusive lock. Node has no flock(2), so a `flock(1)` child holds it for us: it
 * prints a line once the lock is taken and keeps it until its stdin closes, which also happens when
 * this process dies, so a crashed invocation never leaves a stale lock (unlike an O_EXCL lock file).
 */
export async function lockStore(dir: string, timeoutMs = 60_000): Promise<StoreLock> {
  const lockFile = join(dir, '.stap-fleet.lock');
  const child = spawn('flock', ['-x', '-w', String(Math.ceil(timeoutMs / 1000)), lockFile, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('locked\n')) resolve();
    });
    child.on('error', (e) => reject(new StapFleetError('SF_LOCK', { file: lockFile, detail: e.message })));
    child.on('exit', (code) => reject(new StapFleetError('SF_LOCK', { file: lockFile, detail: `flock exited with ${code}` })));
  });
  child.removeAllListeners('exit');
  return {
    release: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}
