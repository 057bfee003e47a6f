/**
 * Starting one compile server: checks of the user and the install, the log and ssl directories, then
 * the daemon spawned detached as USER, waiting (bounded) for its READY line on fd 3.
 */
import { spawn } from 'node:child_process';
import { chownSync, existsSync, openSync, closeSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StapFleetError } from '../../errors.js';
import { serverdArgs, optinfo, type ServerSpec } from '../spec.js';
import type { Sidecar } from '../status.js';
import {
  lookupGroup,
  lookupUser,
  isUserInGroup,
  userMayAccess,
  makeDirs,
  processIdentity,
  nodeName,
  type UserInfo,
} from '../system.js';

export const SERVER_GROUP = 'stap-server';

export interface LaunchOptions {
  serverdPath: string;
  installRoot: string;
  timeoutMs: number;
}

/** USER must exist and belong to group stap-server; we must be root unless USER is ourselves. */
export function checkServerUser(name: string): UserInfo {
  const user = lookupUser(name);
  if (!user) throw new StapFleetError('SF_USER_MISSING', { user: name });
  const group = lookupGroup(SERVER_GROUP);
  if (!group || !isUserInGroup(user, group)) throw new StapFleetError('SF_USER_NOT_IN_GROUP', { user: name });
  const euid = process.geteuid?.() ?? 0;
  if (euid !== 0 && euid !== user.uid) {
    throw new StapFleetError('SF_NO_PRIVILEGE', { detail: `only root can start a server as user '${name}'` });
  }
  return user;
}

/** The daemon and its libraries must be readable by USER (a clone under /root is not). */
export function checkInstallReadable(user: UserInfo, o: LaunchOptions): void {
  const probes = [o.serverdPath, join(o.installRoot, 'node_modules', 'node-forge', 'package.json')];
  for (const p of probes) {
    if (existsSync(p) && !userMayAccess(user, p, 4)) throw new StapFleetError('SF_UNREADABLE_INSTALL', { user: user.name, path: p });
  }
  if (!existsSync(o.serverdPath)) throw new StapFleetError('SF_SERVERD_START', { detail: `${o.serverdPath} does not exist (run npm run build)` });
}

/** mkdir -p, giving the directories it creates to the user. */
function makeDirsFor(user: UserInfo, dir: string, code: 'SF_LOG_DIR' | 'SF_SERVERD_START'): void {
  try {
    for (const d of makeDirs(dir)) chownSync(d, user.uid, user.gid);
  } catch (e) {
    throw new StapFleetError(code, code === 'SF_LOG_DIR' ? { dir, detail: (e as Error).message } : { detail: `${dir}: ${(e as Error).message}` });
  }
}

/** The log file exists and the user can append to it. */
export function prepareLog(user: UserInfo, log: string): void {
  makeDirsFor(user, dirname(log), 'SF_LOG_DIR');
  try {
    if (!existsSync(log)) {
      closeSync(openSync(log, 'a', 0o644));
      chownSync(log, user.uid, user.gid);
    } else if (!userMayAccess(user, log, 2)) {
      if (!statSync(log).isFile()) throw new Error('not a regular file');
      chownSync(log, user.uid, user.gid);
    }
  } catch (e) {
    throw new StapFleetError('SF_LOG_DIR', { dir: log, detail: (e as Error).message });
  }
}

export function defaultSslDir(user: UserInfo): string {
  return join(user.home, '.systemtap', 'ssl', 'server');
}

/** Release names served: a build tree's comes from include/config/kernel.release. */
export function releaseNames(releases: string[]): string[] {
  return releases.map((r) => (r.startsWith('/') ? readBuildTreeRelease(r) : r));
}

export function readBuildTreeRelease(tree: string): string {
  const file = join(tree, 'include', 'config', 'kernel.release');
  let text = '';
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    text = '';
  }
  if (!text) throw new StapFleetError('SF_BUILD_TREE', { file });
  return text;
}

export interface Launched {
  pid: number;
  sidecar: Sidecar;
}

/** Spawns the daemon for a spec (defaults already applied) and resolves once it reported READY. */
export async function launchServer(spec: ServerSpec, o: LaunchOptions): Promise<Launched> {
  const user = checkServerUser(spec.user);
  checkInstallReadable(user, o);
  const releases = releaseNames(spec.releases);
  prepareLog(user, spec.log);
  const sslDir = spec.ssl || defaultSslDir(user);
  makeDirsFor(user, sslDir, 'SF_SERVERD_START');

  const asSelf = (process.geteuid?.() ?? 0) === user.uid;
  const cwd = existsSync(user.home) ? user.home : '/';
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    LANG: process.env.LANG ?? 'C.UTF-8',
  };
  const child = spawn(process.execPath, [o.serverdPath, ...serverdArgs(spec, sslDir)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    cwd,
    env,
    ...(asSelf ? {} : { uid: user.uid, gid: user.gid }),
  });
  const ready = await waitForReady(child, o.timeoutMs);
  const pid = child.pid!;
  child.unref();
  const identity = processIdentity(pid);
  if (!identity) throw new StapFleetError('SF_SERVERD_START', { detail: `stap-serverd (pid ${pid}) exited right after starting` });
  return {
    pid,
    sidecar: {
      pid,
      procStartTicks: identity.startTicks,
      port: ready.port,
      certinfo: ready.certinfo,
      sslDir,
      hostname: nodeName(),
      startedAt: new Date().toISOString(),
      arch: spec.arch,
      releases,
      optinfo: optinfo(spec),
      user: user.name,
      log: spec.log,
    },
  };
}

interface Ready {
  port: number;
  certinfo: string;
}

function waitForReady(child: ReturnType<typeof spawn>, timeoutMs: number): Promise<Ready> {
  const fd3 = child.stdio[3] as NodeJS.ReadableStream | null;
  return new Promise<Ready>((resolve, reject) => {
    let text = '';
    let settled = false;
    const finish = (err?: Error, ready?: Ready): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      (fd3 as unknown as { destroy?: () => void } | null)?.destroy?.();
      if (err) {
        if (child.exitCode === null) child.kill('SIGKILL');
        reject(err);
      } else resolve(ready!);
    };
    const timer = setTimeout(
      () => finish(new StapFleetError('SF_SERVERD_START', { detail: `stap-serverd did not report ready within ${timeoutMs} ms` })),
      timeoutMs,
    );
    child.on('error', (e) => finish(new StapFleetError('SF_SERVERD_START', { detail: e.message })));
    // fd 3 may still hold the ERROR line when 'exit' fires: give the pipe a moment to drain.
    child.on('exit', (code, signal) =>
      setTimeout(() => {
        const detail = firstLine(text)?.replace(/^ERROR /, '') ?? `stap-serverd exited (${signal ?? code}) before it was ready`;
        finish(new StapFleetError('SF_SERVERD_START', { detail }));
      }, 200),
    );
    fd3?.on('data', (d: Buffer) => {
      text += d.toString();
      const line = firstLine(text);
      if (line === undefined) return;
      const m = /^READY port=(\d+) certinfo=(\S+)$/.exec(line);
      if (m) finish(undefined, { port: Number(m[1]), certinfo: m[2]! });
      else finish(new StapFleetError('SF_SERVERD_START', { detail: line.replace(/^ERROR /, '') }));
    });
  });
}

function firstLine(text: string): string | undefined {
  const nl = text.indexOf('\n');
  return nl < 0 ? undefined : text.slice(0, nl);
}
