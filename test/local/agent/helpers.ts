/** Helpers for the agent's LAN tests: the real binaries run inside LAN hosts, avahi-browse watches from another. */
import { expect } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LanHost, RunResult } from '../../lan/index.js';
import { parseAvahiBrowse, type AvahiBrowseEntry } from '../../lan/index.js';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const STAP_SERVER = join(ROOT, 'dist/bin/stap-server.js');
export const STAP_AGENT = join(ROOT, 'dist/bin/stap-agent.js');
/** The version the agent advertises (agent= TXT): the package's. */
export const AGENT_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The one kernel release with headers here (found at run time, never hard-coded). */
export function headersRelease(): string {
  const rel = readdirSync('/lib/modules').find((r) => existsSync(`/lib/modules/${r}/build/.config`));
  if (!rel) throw new Error('no /lib/modules/*/build/.config: run scripts/setup.sh (linux-headers-amd64)');
  return rel;
}

export interface ServerStatus {
  pid: number;
  state: string;
  port: number;
  certinfo: string;
  sslDir: string;
  log: string;
  releases: string[];
}

export async function serverStatus(h: LanHost): Promise<ServerStatus[]> {
  const r = await h.exec(['node', STAP_SERVER, 'status', '--json']);
  return (JSON.parse(r.stdout) as { servers: ServerStatus[] }).servers;
}

export function agentStatus(h: LanHost): Promise<RunResult> {
  return h.exec(['node', STAP_AGENT, 'status', '--json']);
}

export interface BrowseEvent extends AvahiBrowseEntry {
  at: number;
}

/** A continuous `avahi-browse -rp TYPE` on a host, with every event time-stamped on arrival. */
export class BrowseWatch {
  readonly events: BrowseEvent[] = [];
  private readonly child: ChildProcess;
  private buf = '';

  constructor(host: LanHost, type: string) {
    this.child = host.spawn(['avahi-browse', '-rp', type], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      const lines = this.buf.split('\n');
      this.buf = lines.pop()!;
      const at = Date.now();
      for (const e of parseAvahiBrowse(lines.join('\n'))) this.events.push({ ...e, at });
    });
  }

  /** Resolves with the first event (at or after `since`) matching pred; rejects after timeoutMs. */
  async waitFor(what: string, pred: (e: BrowseEvent) => boolean, since: number, timeoutMs: number): Promise<BrowseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find((x) => x.at >= since && pred(x));
      if (e) return e;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; events: ${JSON.stringify(this.events.slice(-10))}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}

/** The TXT strings stap-serverd publishes for one release of a server. */
export function expectedTxt(release: string, certinfo: string, optinfo = ''): string[] {
  return [`sysinfo=${release} x86_64`, `optinfo=${optinfo}`, 'version=4.8', `certinfo=${certinfo}`].sort();
}

export interface StartedServer {
  pid: number;
  port: number;
  certinfo: string;
  /** When `stap-server start` returned: the 2 s visibility bound counts from here. */
  returnedAt: number;
}

/** `stap-server start -r release [extra]` on a LAN host; returns the new running server. */
export async function startServer(h: LanHost, release: string, extra: string[] = []): Promise<StartedServer> {
  const before = new Set((await serverStatus(h)).map((s) => s.pid));
  const r = await h.exec(['node', STAP_SERVER, 'start', '-r', release, ...extra]);
  const returnedAt = Date.now();
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  const s = (await serverStatus(h)).find((x) => !before.has(x.pid) && x.state === 'running');
  expect(s).toBeDefined();
  return { pid: s!.pid, port: s!.port, certinfo: s!.certinfo, returnedAt };
}
