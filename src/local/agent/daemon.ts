/**
 * The agent loop: watch STAT_PATH (inotify + a short poll for processes that die without touching their files),
 * compute what should be advertised, pick the backend (Avahi when avahi-daemon runs, else embedded), reconcile it,
 * and record the result in the state file.
 */
import { existsSync, mkdirSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { AvahiFileBackend } from './avahi-files.js';
import type { Backend, BackendKind } from './backend.js';
import { avahiDaemonPid, chooseBackend, DEFAULT_AVAHI_PID_FILE, type BackendChoice } from './detect.js';
import { EmbeddedBackend } from './embedded.js';
import { desiredServices } from './model.js';
import { ServerScanner } from './servers.js';
import { writeState, stateFile, type AgentState } from './state.js';
import { packageVersion } from '../../paths.js';
import { DEFAULT_GLOBAL, DEFAULT_GLOBAL_FILE, loadGlobalConfig } from '../config/index.js';

export interface AgentOptions {
  statPath: string;
  backend: BackendChoice;
  avahiServicesDir: string;
  avahiPidFile: string;
  /** Interfaces for the embedded responder (names or IPv4 addresses); empty = all. */
  interfaces: string[];
  sshPort: number;
  /** Liveness poll interval (ms); inotify covers file changes at once. */
  pollMs: number;
  /** How long a vanished avahi-daemon keeps the Avahi backend (auto mode). */
  avahiGraceMs: number;
  advertiseAgent: boolean;
  /** Host name used in instance names (`Systemtap Compile Server on <it>`); default uname -n. */
  instanceHost?: string;
  log: (msg: string) => void;
}

const KICK_DELAY_MS = 15;

export const DEFAULT_STAT_PATH = '/var/run/stap-server';
export const DEFAULT_AVAHI_SERVICES_DIR = '/etc/avahi/services';

/**
 * STAT_PATH as the service sees it: from the global config file (env STAP_SERVER_CONFIG_FILE moves it, as
 * for stap-server), parsed with the service's own parser (never sourced), else the default.
 */
export function configuredStatPath(env: NodeJS.ProcessEnv = process.env): string {
  const file = env.STAP_SERVER_CONFIG_FILE || DEFAULT_GLOBAL_FILE;
  return loadGlobalConfig([{ path: file, optional: true }], { ...DEFAULT_GLOBAL, STAT_PATH: DEFAULT_STAT_PATH }).STAT_PATH;
}

export function defaultAgentOptions(over: Partial<AgentOptions> = {}): AgentOptions {
  return {
    statPath: process.env.STAT_PATH || configuredStatPath(),
    backend: 'auto',
    avahiServicesDir: process.env.STAP_AGENT_AVAHI_SERVICES_DIR || DEFAULT_AVAHI_SERVICES_DIR,
    avahiPidFile: process.env.STAP_AGENT_AVAHI_PID_FILE || DEFAULT_AVAHI_PID_FILE,
    interfaces: [],
    sshPort: 22,
    pollMs: 200,
    avahiGraceMs: 10_000,
    advertiseAgent: true,
    log: (msg) => process.stderr.write(`${new Date().toString().slice(0, 24)}: ${msg}\n`),
    ...over,
  };
}

export function agentVersion(): string {
  try {
    return packageVersion();
  } catch {
    return '0.0.0';
  }
}

export class Agent {
  private backend: Backend | undefined;
  private backendReason = '';
  private readonly scanner: ServerScanner;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private pending: NodeJS.Timeout | undefined;
  private dirty = false;
  private stopped = false;
  private lastAvahiSeen = 0;
  private lastStateJson = '';
  private readonly startedAt = new Date().toISOString();
  private readonly hostname: string;
  private readonly version = agentVersion();
  private lastErrors: string[] = [];
  private lastFailure = '';

  constructor(readonly opts: AgentOptions) {
    this.scanner = new ServerScanner(opts.statPath);
    this.hostname = osHostname();
  }

  async start(): Promise<void> {
    mkdirSync(this.opts.statPath, { recursive: true });
    this.opts.log(`stap-agent ${this.version} (pid ${process.pid}) on ${this.hostname}: watching ${this.opts.statPath}`);
    try {
      this.watcher = watch(this.opts.statPath, { persistent: true }, (_event, file) => {
        // Our own state/pid/log files live here too; reacting to them would feed back into ourselves.
        if (file && String(file).includes('stap-agent')) return;
        this.kick();
      });
      this.watcher.on('error', (e) => this.opts.log(`watch error: ${e.message}`));
    } catch (e) {
      this.opts.log(`cannot watch ${this.opts.statPath} (${(e as Error).message}); polling only`);
    }
    await this.tick();
    this.timer = setInterval(() => this.kick(), this.opts.pollMs);
  }

  /**
   * Requests a reconcile. Bursts of file events (a start writes several files per server) coalesce into one run a
   * few ms later, so the event loop stays free for the responder's timers (probes, announcements).
   */
  kick(): void {
    if (this.stopped || this.pending) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.tick();
    }, KICK_DELAY_MS);
  }

  private async tick(): Promise<void> {
    this.running = true;
    try {
      do {
        this.dirty = false;
        const rt0 = Date.now();
        await this.reconcile();
        this.lastFailure = '';
        if (process.env.STAP_AGENT_DEBUG && Date.now() - rt0 > 30) this.opts.log(`reconcile took ${Date.now() - rt0} ms`);
      } while (this.dirty && !this.stopped);
    } catch (e) {
      // Log a persistent failure (say, an unwritable services dir) once, not on every poll.
      const msg = (e as Error).message ?? String(e);
      if (msg !== this.lastFailure) this.opts.log(`reconcile failed: ${(e as Error).stack ?? msg}`);
      this.lastFailure = msg;
    } finally {
      this.running = false;
    }
  }

  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const avahiPid = avahiDaemonPid(this.opts.avahiPidFile);
    const now = Date.now();
    if (avahiPid) this.lastAvahiSeen = now;
    const kind = chooseBackend(this.opts.backend, avahiPid !== undefined, this.backend?.kind, now - this.lastAvahiSeen, this.opts.avahiGraceMs);
    this.backendReason =
      this.opts.backend !== 'auto'
        ? 'configured'
        : avahiPid
          ? `avahi-daemon running (pid ${avahiPid})`
          : kind === 'avahi'
            ? 'avahi-daemon not running; waiting for it to come back'
            : 'no avahi-daemon';
    if (this.backend?.kind !== kind) await this.switchBackend(kind);
    const { live, ignored, errors } = this.scanner.scan();
    const desired = desiredServices(live, {
      hostname: this.hostname,
      instanceHost: this.opts.instanceHost,
      agentVersion: this.version,
      sshPort: this.opts.sshPort,
      advertiseAgent: this.opts.advertiseAgent,
    });
    await this.backend!.apply(desired);
    if (errors.join('\n') !== this.lastErrors.join('\n')) for (const e of errors) this.opts.log(`status file: ${e}`);
    this.lastErrors = errors;
    this.saveState(ignored, errors);
  }

  private async switchBackend(kind: BackendKind): Promise<void> {
    if (this.backend) {
      this.opts.log(`switching backend ${this.backend.kind} -> ${kind} (${this.backendReason})`);
      await this.backend.close();
    } else {
      this.opts.log(`backend: ${kind} (${this.backendReason})`);
    }
    this.backend =
      kind === 'avahi'
        ? new AvahiFileBackend(this.opts.avahiServicesDir, this.opts.log)
        : new EmbeddedBackend({ hostname: this.hostname, interfaces: this.opts.interfaces, log: this.opts.log, onChange: () => this.kick() });
  }

  private saveState(ignored: AgentState['ignored'], errors: string[]): void {
    const state: AgentState = {
      pid: process.pid,
      version: this.version,
      hostname: this.hostname,
      startedAt: this.startedAt,
      updatedAt: '',
      statPath: this.opts.statPath,
      backend: this.backend!.kind,
      backendReason: this.backendReason,
      avahiServicesDir: this.opts.avahiServicesDir,
      interfaces: this.opts.interfaces,
      services: this.backend!.snapshot(),
      ignored,
      errors,
    };
    const json = JSON.stringify(state);
    if (json === this.lastStateJson && existsSync(stateFile(this.opts.statPath))) return;
    this.lastStateJson = json;
    state.updatedAt = new Date().toISOString();
    writeState(this.opts.statPath, state);
  }

  /** Withdraws everything and removes the state file. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    this.watcher?.close();
    // Let an in-flight reconcile finish before closing the backend it uses.
    const deadline = Date.now() + 3000;
    while (this.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await this.backend?.close();
    rmSync(stateFile(this.opts.statPath), { force: true });
    this.opts.log('stap-agent exiting; all advertisements withdrawn');
  }
}
