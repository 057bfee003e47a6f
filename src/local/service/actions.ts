/**
 * The seven actions of the seed (2.2) over the status store. Each action returns typed results: the
 * lines to print, the LSB exit code, and (status) the servers for --json. Printing is the caller's.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StapFleetError, exitCodeFor } from '../../errors.js';
import { accumulateSpecs, applyLists, parseServiceArgs, type ParsedArgs, type SpecLookups } from '../options.js';
import { cloneSpec, describeSpec, emptySpec, sameServer, withDefaults, type ServerSpec, type SpecDefaults } from '../spec.js';
import { StatusStore, lockStore, type StatusEntry } from '../status.js';
import { installedReleases, kernelRelease, lookupUser, stapArch } from '../system.js';
import { defaultSslDir, launchServer, readBuildTreeRelease } from './launch.js';
import {
  installRoot,
  loadConfiguredServers,
  loadGlobalSettings,
  readEnvironment,
  type ConfiguredServer,
  type Environment,
  type GlobalSettings,
} from './settings.js';
import { stopServer } from './stop.js';
import { ScriptLog } from './scriptlog.js';
import { ensureAgent } from './agent-hook.js';

export const ACTIONS = ['start', 'stop', 'restart', 'condrestart', 'try-restart', 'force-reload', 'status'] as const;
export type Action = (typeof ACTIONS)[number];

export function isAction(a: string): a is Action {
  return (ACTIONS as readonly string[]).includes(a);
}

export interface JsonServer {
  pid: number;
  state: 'running' | 'dead';
  nickname: string;
  arch: string;
  releases: string[];
  user: string;
  port: number | null;
  configuredPort: string;
  certinfo: string | null;
  sslDir: string | null;
  log: string;
  include: string[];
  define: string[];
  build: string[];
  runtime: string;
  maxThreads: string;
  maxRequestSize: string;
  maxCompressedRequest: string;
  statFile: string;
}

export interface ActionResult {
  /** stdout lines, in order. */
  lines: string[];
  /** stderr lines (details of failures). */
  errors: string[];
  exitCode: number;
  servers?: JsonServer[];
}

export interface Service {
  env: Environment;
  globals: GlobalSettings;
  store: StatusStore;
  defaults: SpecDefaults;
  log: ScriptLog;
  configured(): ConfiguredServer[];
  /** Status files that could not be read or parsed: skipped, and reported once on stderr. */
  unreadable: Set<string>;
}

export async function openService(parsed: ParsedArgs, env: Environment = readEnvironment()): Promise<Service> {
  const globals = loadGlobalSettings(env.configFile, parsed.configFile);
  let configured: ConfiguredServer[] | undefined;
  return {
    env,
    globals,
    store: new StatusStore(globals.statPath),
    defaults: { arch: stapArch(), release: kernelRelease(), user: globals.stapUser, log: globals.logFile },
    log: new ScriptLog(globals.logFile),
    configured: () => (configured ??= loadConfiguredServers(globals)),
    unreadable: new Set(),
  };
}

/**
 * Status entries with defaults filled: a server SystemTap's script started without -r has no RELEASE line
 * but serves `uname -r`, and an empty LOG means LOG_FILE, exactly what our specs get.
 */
function entries(svc: Service): StatusEntry[] {
  const problems: string[] = [];
  const list = svc.store.list(problems);
  for (const p of problems) svc.unreadable.add(p);
  return list.map((e) => ({ ...e, spec: withDefaults(e.spec, svc.defaults) }));
}

/** Running (alive) entries; dead ones are returned separately so callers decide about them. */
function scan(svc: Service): { alive: StatusEntry[]; dead: StatusEntry[] } {
  const alive: StatusEntry[] = [];
  const dead: StatusEntry[] = [];
  for (const e of entries(svc)) (svc.store.isAlive(e) ? alive : dead).push(e);
  return { alive, dead };
}

function lookups(svc: Service): SpecLookups {
  return {
    runningByNickname: (name) => scan(svc).alive.find((e) => e.shownNickname === name)?.spec,
    configuredByNickname: (name) => svc.configured().find((c) => c.spec.nickname === name)?.spec,
    runningByPid: (pid) => {
      const e = entries(svc).find((x) => x.pid === pid);
      return e && svc.store.isAlive(e) ? e.spec : undefined;
    },
    installedReleases: () => installedReleases(svc.env.modulesDir),
    checkBuildTree: (path) => void readBuildTreeRelease(path),
  };
}

const START_LIKE: ReadonlySet<Action> = new Set<Action>(['start', 'restart', 'force-reload']);

/** Runs one action for argv (the words after the action). */
export async function runAction(action: Action, argv: readonly string[], env?: Environment): Promise<ActionResult> {
  const parsed = parseServiceArgs(argv);
  const svc = await openService(parsed, env);
  const r = await runOn(svc, action, parsed, argv);
  for (const p of svc.unreadable) r.errors.push(`stap-server: warning: skipped ${p}`);
  return r;
}

async function runOn(svc: Service, action: Action, parsed: ParsedArgs, argv: readonly string[]): Promise<ActionResult> {
  const specs = accumulateSpecs(parsed, lookups(svc), START_LIKE.has(action)).specs.map((s) =>
    withDefaults(s, svc.defaults),
  );
  // Servers that start when none is specified: conf.d's, else one default; the lists still apply in turn.
  const startSpecs = (): ServerSpec[] => {
    if (specs.length) return specs;
    const configured = svc.configured();
    const base = configured.length ? configured.map((c) => cloneSpec(c.spec)) : [emptySpec()];
    applyLists(base, parsed.lists);
    return base.map((s) => withDefaults(s, svc.defaults));
  };
  svc.log.pass(`${action} ${argv.join(' ')}`.trim());
  if (action === 'status') return status(svc, specs);

  checkStorePrivilege(svc.store.dir);
  svc.store.ensureDir();
  const lock = await lockStore(svc.store.dir);
  try {
    switch (action) {
      case 'start':
        return await withAgent(svc, await start(svc, startSpecs()));
      case 'stop':
        return await stop(svc, specs);
      case 'restart':
      case 'condrestart':
      case 'try-restart':
        return await withAgent(svc, await restart(svc, specs, action === 'restart' ? startSpecs : undefined));
      case 'force-reload': {
        const stopped = await stop(svc, []);
        const started = await start(svc, startSpecs());
        return await withAgent(svc, merge(stopped, started));
      }
    }
  } finally {
    await lock.release();
  }
}

/** Servers are running: make sure the agent advertises them (a failure is a warning, not a failed start). */
async function withAgent(svc: Service, r: ActionResult): Promise<ActionResult> {
  if (!svc.env.agent || svc.store.list().length === 0) return r;
  const warning = await ensureAgent({ statPath: svc.globals.statPath, logFile: svc.globals.logFile });
  if (warning) r.errors.push(warning);
  return r;
}

/** Changing state needs write access to STAT_PATH (root, normally): LSB 4 otherwise. */
function checkStorePrivilege(dir: string): void {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  try {
    accessSync(d, constants.W_OK);
  } catch {
    throw new StapFleetError('SF_NO_PRIVILEGE', { detail: `no permission to write ${d} (run stap-server as root)` });
  }
}

function merge(a: ActionResult, b: ActionResult): ActionResult {
  return {
    lines: [...a.lines, '', ...b.lines],
    errors: [...a.errors, ...b.errors],
    exitCode: a.exitCode || b.exitCode,
  };
}

/** Removes status files of dead servers (before starting anything, so no stale entry matches). */
function reapDead(svc: Service, dead: StatusEntry[]): void {
  for (const e of dead) {
    svc.store.remove(e.pid);
    svc.log.pass(`removed status of dead server pid ${e.pid}`);
  }
}

async function start(svc: Service, specs: ServerSpec[]): Promise<ActionResult> {
  const { alive, dead } = scan(svc);
  reapDead(svc, dead);
  // Decide first (skip running ones and duplicates of this command line), then launch in parallel.
  const planned: ServerSpec[] = [];
  const plan = specs.map((spec) => {
    const running = alive.some((e) => sameServer(spec, e.spec)) || planned.some((p) => sameServer(spec, p));
    if (!running) planned.push(spec);
    return { spec, running };
  });
  // Servers sharing a certificate directory that has no certificate yet: the first one creates it, the
  // others start after it, so they all serve the certificate on disk (not one each, last rename winning).
  const firstOfDir = new Map<string, Promise<unknown>>();
  const outcomes = await Promise.all(
    plan.map(async ({ spec, running }) => {
      if (running) return { ok: true as const };
      const dir = certDirOf(spec);
      const first = dir ? firstOfDir.get(dir) : undefined;
      if (first) await first.catch(() => undefined);
      try {
        const launching = launchServer(spec, {
          serverdPath: svc.env.serverdPath,
          installRoot: installRoot(),
          timeoutMs: svc.env.startTimeoutMs,
        });
        if (dir && !first) firstOfDir.set(dir, launching);
        const launched = await launching;
        svc.store.write(launched.pid, spec, launched.sidecar);
        svc.log.exec(`started pid ${launched.pid} port ${launched.sidecar.port}: ${describeSpec(spec)}`);
        return { ok: true as const };
      } catch (err) {
        svc.log.error(`${describeSpec(spec)}: ${(err as Error).message}`);
        return { ok: false as const, err };
      }
    }),
  );
  const result: ActionResult = { lines: [], errors: [], exitCode: 0 };
  outcomes.forEach((o, i) => {
    const text = `Starting stap-server ${describeSpec(plan[i]!.spec)}`;
    if (o.ok) result.lines.push(`${text} OK`);
    else {
      result.lines.push(`${text} FAILED`);
      result.errors.push(`stap-server: ${(o.err as Error).message}`);
      result.exitCode ||= exitCodeFor(o.err);
    }
  });
  return result;
}

/** The certificate directory a spec will use when it holds no certificate yet (else undefined: no ordering needed). */
function certDirOf(spec: ServerSpec): string | undefined {
  const user = spec.ssl ? undefined : lookupUser(spec.user);
  const dir = spec.ssl || (user ? defaultSslDir(user) : undefined);
  return dir && !existsSync(join(dir, 'stap.cert')) ? dir : undefined;
}

/** Running entries matching the specs (all running when specs is empty). */
function selectRunning(svc: Service, specs: ServerSpec[]): { targets: StatusEntry[]; dead: StatusEntry[] } {
  const { alive, dead } = scan(svc);
  const targets = specs.length ? alive.filter((e) => specs.some((s) => sameServer(s, e.spec))) : alive;
  return { targets, dead };
}

async function stop(svc: Service, specs: ServerSpec[]): Promise<ActionResult> {
  const { targets, dead } = selectRunning(svc, specs);
  reapDead(svc, dead);
  const result: ActionResult = { lines: [], errors: [], exitCode: 0 };
  if (targets.length === 0) {
    result.lines.push('Stopping stap-server: OK');
    return result;
  }
  // All servers at once: each stop is mostly waiting for a process to exit.
  const outcomes = await Promise.all(targets.map((e) => stopServer(e.pid, e.sidecar?.procStartTicks, svc.env.stopTimeoutMs)));
  outcomes.forEach((o, i) => {
    const e = targets[i]!;
    const text = `Stopping stap-server ${describeSpec(e.spec, e.shownNickname)}`;
    if (o.stopped) {
      svc.store.remove(e.pid);
      svc.log.exec(`stopped pid ${e.pid}${o.killed ? ' (SIGKILL after timeout)' : ''}`);
      result.lines.push(`${text} OK`);
    } else {
      result.lines.push(`${text} FAILED`);
      result.errors.push(o.denied ? `stap-server: no permission to signal pid ${e.pid} (run as root or as ${e.spec.user})` : `stap-server: pid ${e.pid} did not exit`);
      result.exitCode ||= o.denied ? 4 : 1;
    }
  });
  return result;
}

/** restart (fallback = start specs when nothing runs) and condrestart/try-restart (no fallback). */
async function restart(svc: Service, specs: ServerSpec[], fallback?: () => ServerSpec[]): Promise<ActionResult> {
  const { targets } = selectRunning(svc, specs);
  if (targets.length === 0) {
    if (fallback) return start(svc, specs.length ? specs : fallback());
    return { lines: ['No managed stap-server is running'], errors: [], exitCode: 0 };
  }
  // Restart what ran, as it was recorded (a nickname that was only the pid is not kept).
  const again = targets.map((e) => cloneSpec(e.spec));
  const stopped = await stop(svc, again);
  // restart also starts specified servers that were not running (seed 2.2.3).
  const extra = fallback ? specs.filter((s) => !again.some((a) => sameServer(s, a))) : [];
  const started = await start(svc, [...again, ...extra]);
  return merge(stopped, started);
}

function toJson(e: StatusEntry, state: 'running' | 'dead'): JsonServer {
  const s = e.spec;
  return {
    pid: e.pid,
    state,
    nickname: e.shownNickname,
    arch: s.arch,
    releases: e.sidecar?.releases ?? s.releases,
    user: s.user,
    port: e.sidecar?.port ?? (s.port ? Number(s.port) : null),
    configuredPort: s.port,
    certinfo: e.sidecar?.certinfo ?? null,
    sslDir: e.sidecar?.sslDir ?? null,
    log: s.log,
    include: s.include,
    define: s.define,
    build: s.build,
    runtime: s.runtime,
    maxThreads: s.maxThreads,
    maxRequestSize: s.maxRequestSize,
    maxCompressedRequest: s.maxCompressedRequest,
    statFile: e.statFile,
  };
}

function status(svc: Service, specs: ServerSpec[]): ActionResult {
  const all = entries(svc);
  const result: ActionResult = { lines: [], errors: [], exitCode: 0, servers: [] };
  let anyDead = false;
  let anyDown = false;
  const report = (e: StatusEntry): void => {
    const text = `stap-server ${describeSpec(e.spec, e.shownNickname)}`;
    if (svc.store.isAlive(e)) {
      result.lines.push(`${text} running as PID ${e.pid}`);
      result.servers!.push(toJson(e, 'running'));
    } else {
      result.lines.push(`${text} started as PID ${e.pid} is no longer running`);
      result.servers!.push(toJson(e, 'dead'));
      try {
        svc.store.remove(e.pid);
      } catch {
        // status is allowed to non-root callers; the next privileged action cleans up
      }
      anyDead = true;
    }
  };
  if (specs.length === 0) {
    if (all.length === 0) {
      result.lines.push('No managed stap-server is running');
      result.exitCode = 3;
      return result;
    }
    all.forEach(report);
  } else {
    for (const spec of specs) {
      const matching = all.filter((e) => sameServer(spec, e.spec));
      if (matching.length) matching.forEach(report);
      else {
        result.lines.push(`stap-server ${describeSpec(spec)} is not running`);
        anyDown = true;
      }
    }
  }
  result.exitCode = anyDead ? 1 : anyDown ? 3 : 0;
  return result;
}

/** Errors raised before any server is touched (usage, config, lookups) as an ActionResult. */
export function failure(action: Action | undefined, err: unknown): ActionResult {
  let exitCode = exitCodeFor(err);
  // LSB: for status, "program is not running" (3) covers an unknown server.
  if (action === 'status' && err instanceof StapFleetError && (err.code === 'SF_UNKNOWN_NICKNAME' || err.code === 'SF_NO_SUCH_PID')) {
    exitCode = err.code === 'SF_UNKNOWN_NICKNAME' ? 3 : 1;
  }
  const message = err instanceof StapFleetError ? err.message : String((err as Error)?.stack ?? err);
  return { lines: [], errors: [`stap-server: ${message}`], exitCode, servers: [] };
}
