/** Shared scaffolding for the stap-server CLI tests: a temp world (global config, conf.d, stat, log), the real CLI, cleanup. */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(new URL('../../..', import.meta.url).pathname);
export const CLI = join(ROOT, 'dist/bin/stap-server.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface World {
  dir: string;
  global: string;
  confd: string;
  stat: string;
  logFile: string;
  env: Record<string, string>;
  cli(args: string[], extraEnv?: Record<string, string>): Promise<CliResult>;
  conf(name: string, text: string): void;
  statFiles(): string[];
  statText(pid: number): string;
  pids(): number[];
  cleanup(): Promise<void>;
}

/** A user in group stap-server (or not) whose home is inside the temp world, so nothing under /var is written. */
export function ensureUser(name: string, home: string, inGroup = true): void {
  const exists = (() => {
    try {
      execFileSync('getent', ['passwd', name], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  const group = inGroup ? ['-g', 'stap-server'] : ['-U'];
  for (let attempt = 0; ; attempt++) {
    try {
      if (!exists) execFileSync('useradd', ['-r', ...group, '-M', '-d', home, '-s', '/usr/sbin/nologin', name], { stdio: 'pipe' });
      else execFileSync('usermod', ['-d', home, name], { stdio: 'pipe' });
      break;
    } catch (e) {
      // /etc/passwd is locked by a concurrent useradd (other test files): retry briefly.
      if (attempt > 20) throw e;
      execFileSync('sleep', ['0.2']);
    }
  }
  mkdirSync(home, { recursive: true });
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  chownSync(home, uid, gid);
}

/** Removes a test user again (retrying while a concurrent useradd holds /etc/passwd's lock). */
export function removeUser(name: string): void {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      execFileSync('userdel', [name], { stdio: 'pipe' });
      return;
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 6) return; // no such user
      execFileSync('sleep', ['0.2']);
    }
  }
}

export function makeWorld(opts: { user: string; tag: string }): World {
  const dir = mkdtempSync(`/tmp/sf-svc-${opts.tag}-`);
  chmodSync(dir, 0o755);
  const confd = join(dir, 'conf.d');
  const stat = join(dir, 'stat');
  const logFile = join(dir, 'log', 'log');
  mkdirSync(confd);
  const global = join(dir, 'global.conf');
  writeFileSync(global, `CONFIG_PATH=${confd}\nSTAT_PATH=${stat}\nLOG_FILE=${logFile}\nSTAP_USER=${opts.user}\n`);
  const env = {
    STAP_SERVER_CONFIG_FILE: join(dir, 'no-default-global'),
    STAP_FLEET_AGENT: 'off',
    STAP_SERVER_MODULES_DIR: join(dir, 'modules'),
  };
  const world: World = {
    dir,
    global,
    confd,
    stat,
    logFile,
    env,
    cli: (args, extraEnv = {}) => runCli([...args, ...(args.includes('-c') ? [] : ['-c', global])], { ...env, ...extraEnv }),
    conf: (name, text) => writeFileSync(join(confd, name), text),
    statFiles: () => (existsSync(stat) ? readdirSync(stat).filter((f) => f.endsWith('.stat')).sort() : []),
    statText: (pid) => readFileSync(join(stat, `${pid}.stat`), 'utf8'),
    pids: () => world.statFiles().map((f) => Number(f.replace('.stat', ''))),
    cleanup: async () => {
      killServersIn(stat);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** Kills every stap-serverd recorded in a stat dir (test cleanup after failures). */
export function killServersIn(stat: string): void {
  if (!existsSync(stat)) return;
  for (const f of readdirSync(stat)) {
    const m = /^(\d+)\.stat$/.exec(f);
    if (!m) continue;
    try {
      const comm = readFileSync(`/proc/${m[1]}/comm`, 'utf8').trim();
      if (comm === 'stap-serverd') process.kill(Number(m[1]), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as NodeJS.ErrnoException & { code?: number | string }).code as number) : 0;
      resolvePromise({ exitCode: typeof code === 'number' ? code : 1, stdout, stderr, durationMs: Date.now() - t0 });
    });
  });
}

export function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** A live (not zombie) stap-serverd with this pid. */
export function isLiveServer(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return commOf(pid) === 'stap-serverd' && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function statusOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Parses a .stat into [key, value] pairs in order. */
export function statLines(text: string): string[] {
  return text.trimEnd().split('\n');
}
