/** Test helpers: our stap-serverd on a LAN host, run as stap-server, and the real stap client on another. */
import type { ChildProcess } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LanHost } from '../../../lan/index.js';
import type { RunResult } from '../../../lan/index.js';
import { DAEMON, readReady, stapServerIds, type Ready } from './daemon.js';

export interface LanServer {
  child: ChildProcess;
  ready: Ready;
  port: number;
  certinfo: string;
  dir: string;
  ssl: string;
  log: string;
  stop(): Promise<number | null>;
}

/** A directory on the host's scratch area that stap-server owns. */
export function serverDir(host: LanHost, name: string): string {
  const ids = stapServerIds();
  const dir = join(host.dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chownSync(dir, ids.uid, ids.gid);
  return dir;
}

/** Starts our daemon on `host` as stap-server (HOME=/var/lib/stap-server in the host's view). */
export async function startLanServer(host: LanHost, name: string, args: string[], opts: { dir?: string; env?: Record<string, string | undefined> } = {}): Promise<LanServer> {
  const dir = opts.dir ?? serverDir(host, name);
  const ssl = join(dir, 'ssl');
  const log = join(dir, 'serverd.log');
  const child = host.spawn([process.execPath, DAEMON, '--ssl', ssl, '--log', log, ...args], {
    user: 'stap-server',
    env: { SYSTEMTAP_DIR: undefined, STAP_PR11197_OVERRIDE: undefined, ...opts.env },
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  });
  const ready = await readReady(child);
  if (!ready.port || !ready.certinfo) throw new Error(`server on ${host.name} did not start: ${ready.line}`);
  const exited = new Promise<number | null>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r(child.exitCode);
    else child.on('exit', (code) => r(code));
  });
  return {
    child,
    ready,
    port: ready.port,
    certinfo: ready.certinfo,
    dir,
    ssl,
    log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Environment of the stap client: a private SYSTEMTAP_DIR and a fixed locale. */
export function clientEnv(systemtapDir: string): Record<string, string | undefined> {
  return { SYSTEMTAP_DIR: systemtapDir, LANG: 'C', LC_ALL: undefined, LANGUAGE: undefined };
}

export async function trust(client: LanHost, systemtapDir: string, server: { ip: string; port: number }): Promise<RunResult> {
  const r = await client.exec(['stap', '--trust-servers=ssl,no-prompt', `--use-server=${server.ip}:${server.port}`], { env: clientEnv(systemtapDir) });
  // The client exits 0 even when it trusted nothing; make sure it really added our server.
  if (!r.stdout.includes('Adding trust') && !r.stderr.includes('Adding trust')) return { ...r, exitCode: r.exitCode || 99 };
  if (!existsSync(join(systemtapDir, 'ssl', 'client', 'cert9.db'))) return { ...r, exitCode: r.exitCode || 98 };
  return r;
}

/** Writes files (root-side absolute paths) creating parents. */
export function writeFiles(files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
}

/** Mirrors a client path into a request-like layout: <root>/<kind>/<abs path>, as the client's zip holds it. */
export function mirror(root: string, kind: 'script' | 'tapset', abs: string): string {
  const dest = join(root, kind, abs);
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(abs, dest, { recursive: true });
  return `${kind}${abs}`;
}
