/**
 * One compile request from zip bytes to a filled response directory (stap-serverd's handle_connection
 * minus the socket, plus handleRequest): private temp dir, strict unpack, release check, locale
 * filtering, the stap run, module signing, rc, path scrubbing. Every failure still yields a response
 * whose stderr says why and whose rc is non-zero.
 */
import type { Result } from 'execa';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { signModuleFile } from '../../trust/signing.js';
import { buildStapArgs, describeClientArgs, needsSignature, requestedPrivilege, type Privilege } from './command.js';
import { filterLocale, stapEnvironment } from './locale.js';
import { readClientRequest } from './request.js';
import { appendClientError, scrubFile, writeRc } from './response.js';
import { RequestRefusal, unpackRequest, DEFAULT_MAX_ENTRIES } from './unpack.js';
import { compareVersions, hashForClientVersion, SERVER_PROTOCOL_VERSION } from './version.js';
import { asksVerbose, requestKey, restoreDir, serverFingerprint, snapshotDir, type ResponseCache } from './cache.js';

export interface ProcessContext {
  stap: string;
  /** The server's -a -B -D -I -R options, in command-line order, as separate words. */
  serverStapOptions: readonly string[];
  /** Releases this server serves. */
  releases: ReadonlySet<string>;
  maxRequestSize: number;
  maxEntries?: number;
  compileTimeoutMs: number;
  tmpParent?: string;
  serverEnv: NodeJS.ProcessEnv;
  serverHome?: string;
  /** Identical-request cache (undefined or disabled: every request runs stap). */
  cache?: ResponseCache;
  /** Build tree of each served release (for the cache fingerprint). */
  buildTrees?: ReadonlyMap<string, string>;
  /** The current server key (PEM), read at signing time so a renewed key is used at once. */
  signingKey(): string;
  log(message: string): void;
}

export interface RequestOutcome {
  tmpDir: string;
  responseDir: string;
  exitCode: number;
  failed: boolean;
  timedOut: boolean;
  clientVersion?: string;
  args?: string[];
  privilege?: Privilege;
  /** Module files signed for the client (relative to the response dir). */
  signed: string[];
  durationMs: number;
  /** Time spent in the stap run itself. */
  stapMs?: number;
  /** Answered from the response cache (no stap run). */
  cached?: boolean;
  shortMessage?: string;
}

export function makeRequestDirs(tmpParent: string | undefined): { tmpDir: string; requestDir: string; responseDir: string } {
  const tmpDir = mkdtempSync(join(tmpParent || tmpdir(), 'stap-server.'));
  const requestDir = join(tmpDir, 'request');
  const responseDir = join(tmpDir, 'response');
  mkdirSync(requestDir, { mode: 0o700 });
  mkdirSync(responseDir, { mode: 0o700 });
  // Written first so the client learns our version even from a failed request.
  writeFileSync(join(responseDir, 'version'), SERVER_PROTOCOL_VERSION, { mode: 0o600 });
  return { tmpDir, requestDir, responseDir };
}

/** A response that only carries an error (oversize or unreadable requests). */
export function errorResponse(tmpParent: string | undefined, message: string): { tmpDir: string; responseDir: string } {
  const { tmpDir, responseDir } = makeRequestDirs(tmpParent);
  appendClientError(responseDir, message);
  writeRc(responseDir, 1);
  return { tmpDir, responseDir };
}

function findModules(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.ko') && statSync(join(dir, f)).isFile());
  } catch {
    return [];
  }
}

export async function processRequest(zip: Buffer, ctx: ProcessContext, signal?: AbortSignal): Promise<RequestOutcome> {
  const started = performance.now();
  const { tmpDir, requestDir, responseDir } = makeRequestDirs(ctx.tmpParent);
  const outcome: RequestOutcome = { tmpDir, responseDir, exitCode: 1, failed: true, timedOut: false, signed: [], durationMs: 0 };
  try {
    return await compile(zip, ctx, signal, { requestDir, responseDir, outcome, started });
  } catch (err) {
    // Unexpected (disk full, permissions): still answer, and let the caller remove tmpDir.
    const message = `Internal server error: ${(err as Error).message}`;
    ctx.log(message);
    try {
      appendClientError(responseDir, message);
      writeRc(responseDir, 1);
    } catch {
      /* nothing more we can say */
    }
    outcome.exitCode = 1;
    outcome.failed = true;
    outcome.shortMessage = message;
    outcome.durationMs = performance.now() - started;
    return outcome;
  }
}

interface CompileState {
  requestDir: string;
  responseDir: string;
  outcome: RequestOutcome;
  started: number;
}

async function compile(zip: Buffer, ctx: ProcessContext, signal: AbortSignal | undefined, state: CompileState): Promise<RequestOutcome> {
  const { requestDir, responseDir, outcome, started } = state;
  const refuse = (message: string): RequestOutcome => {
    ctx.log(message);
    appendClientError(responseDir, message);
    writeRc(responseDir, 1);
    outcome.shortMessage = message;
    outcome.durationMs = performance.now() - started;
    return outcome;
  };

  try {
    await unpackRequest(zip, requestDir, { maxUncompressed: ctx.maxRequestSize, maxEntries: ctx.maxEntries ?? DEFAULT_MAX_ENTRIES });
  } catch (err) {
    if (err instanceof RequestRefusal) return refuse(err.message);
    return refuse(`Unable to extract client request: ${(err as Error).message}`);
  }

  let request;
  try {
    request = readClientRequest(requestDir);
  } catch (err) {
    return refuse(err instanceof RequestRefusal ? err.message : `Unable to read the client request: ${(err as Error).message}`);
  }
  outcome.clientVersion = request.clientVersion;
  ctx.log(`Client version is ${request.clientVersion}`);
  if (!request.release) return refuse('Unable to read sysinfo');
  if (!ctx.releases.has(request.release)) {
    return refuse(`Target kernel version ${request.release} is not supported by this server`);
  }

  const stapTmp = join(responseDir, 'stap000000');
  mkdirSync(stapTmp, { mode: 0o700 });
  outcome.args = request.args;
  ctx.log(`Options passed from the client: ${describeClientArgs(request.args)} `);

  const hasMoks = existsSync(join(requestDir, 'mok_fingerprints'));
  let cacheKey: string | undefined;
  if (ctx.cache?.enabled && !hasMoks && !asksVerbose(request.args)) {
    const fingerprint = serverFingerprint({
      stap: ctx.stap,
      serverStapOptions: ctx.serverStapOptions,
      release: request.release,
      buildTree: ctx.buildTrees?.get(request.release),
      env: ctx.serverEnv,
    });
    cacheKey = requestKey(requestDir, fingerprint);
    const hit = ctx.cache.get(cacheKey);
    if (hit) {
      restoreDir(responseDir, hit.files);
      outcome.cached = true;
      outcome.exitCode = hit.exitCode;
      outcome.failed = hit.exitCode !== 0;
      outcome.durationMs = performance.now() - started;
      return outcome;
    }
  }

  let locale: Record<string, string> = {};
  if (compareVersions(request.clientVersion, '1.6') >= 0 && request.locale !== undefined) {
    const filtered = filterLocale(request.locale);
    for (const m of filtered.messages) {
      ctx.log(m);
      appendClientError(responseDir, m);
    }
    locale = filtered.accepted;
  }

  let moks: string[] = [];
  if (compareVersions(request.clientVersion, '1.6') >= 0 && hasMoks) {
    moks = readFileSync(join(requestDir, 'mok_fingerprints'), 'utf8').split('\n').filter((l) => l.length > 0);
  }

  const stapArgs = buildStapArgs(ctx.serverStapOptions, request.release, stapTmp, request.args);
  const run = await runStap(ctx, stapArgs, { cwd: requestDir, responseDir, env: stapEnvironment(ctx.serverEnv, locale), signal });
  const result = run.result;
  outcome.stapMs = result.durationMs;
  let rc = result.exitCode ?? 1;
  outcome.timedOut = run.timedOut;
  if (result.failed && result.exitCode === undefined) {
    const why = run.timedOut
      ? `compilation timed out after ${Math.round(ctx.compileTimeoutMs / 1000)} s`
      : run.canceled
        ? 'the server is shutting down'
        : `Failed spawning translator ${ctx.stap}: ${result.originalMessage ?? result.shortMessage}`;
    ctx.log(why);
    appendClientError(responseDir, why);
    outcome.shortMessage = why;
  }

  const privilege = requestedPrivilege([...ctx.serverStapOptions, `--tmpdir=${stapTmp}`, '--client-options', ...request.args]);
  outcome.privilege = privilege;
  if (rc === 0 && (needsSignature(privilege) || moks.length > 0)) {
    const modules = findModules(stapTmp);
    if (modules.length === 0) ctx.log(`Unable to find a module in ${stapTmp}`);
    else if (modules.length > 1) ctx.log(`Too many modules (${modules.length}) in ${stapTmp}`);
    else {
      const hash = hashForClientVersion(request.clientVersion);
      if (needsSignature(privilege)) {
        signModuleFile(join(stapTmp, modules[0]!), ctx.signingKey(), hash);
        outcome.signed.push(`stap000000/${modules[0]}`);
      }
      if (moks.length > 0) {
        // We hold no machine owner keys (see docs/serverd.md): answer as stap-serverd does when it has none.
        const m = 'The server has no machine owner keys (MOK) in common with this\nsystem. The server could not generate a new MOK.';
        ctx.log(m);
        appendClientError(responseDir, m);
        rc = 1;
      }
    }
  }
  const uprobes = join(stapTmp, 'uprobes', 'uprobes.ko');
  if (needsSignature(privilege) && existsSync(uprobes) && statSync(uprobes).size > 0) {
    signModuleFile(uprobes, ctx.signingKey(), hashForClientVersion(request.clientVersion));
    outcome.signed.push('stap000000/uprobes/uprobes.ko');
  }

  writeRc(responseDir, rc);
  scrubFile(join(responseDir, 'stdout'), [ctx.serverHome, responseDir]);
  scrubFile(join(responseDir, 'stderr'), [ctx.serverHome, responseDir]);
  outcome.exitCode = rc;
  outcome.failed = rc !== 0;
  // Only deterministic answers are worth replaying: success, nothing built or signed.
  if (cacheKey && rc === 0 && outcome.signed.length === 0 && !result.failed && !containsModule(stapTmp)) {
    ctx.cache!.set(cacheKey, snapshotDir(responseDir), rc);
  }
  outcome.durationMs = performance.now() - started;
  return outcome;
}

/**
 * Runs stap with its output going straight to the response files (no pipes through this process) in
 * a process group of its own: a timeout or shutdown terminates stap and everything it started (make,
 * gcc), SIGKILL 2 s after SIGTERM, as stap-serverd signals its children.
 */
async function runStap(
  ctx: ProcessContext,
  args: string[],
  o: { cwd: string; responseDir: string; env: Record<string, string>; signal?: AbortSignal },
): Promise<{ result: Result; timedOut: boolean; canceled: boolean }> {
  const inFd: number = openSync('/dev/null', 'r');
  const outFd: number = openSync(join(o.responseDir, 'stdout'), 'w', 0o600);
  const errFd: number = openSync(join(o.responseDir, 'stderr'), 'a', 0o600);
  let timedOut = false;
  let canceled = false;
  const timers: NodeJS.Timeout[] = [];
  try {
    // execa accepts file descriptors at run time; its types only admit literal numbers.
    type Fd = 3;
    // Loaded on first use (the daemon's own `stap -V` at start already did): keeps start-up short.
    const { execa } = await import('execa');
    const sub = execa(ctx.stap, args, {
      cwd: o.cwd,
      stdin: inFd as Fd,
      stdout: outFd as Fd,
      stderr: errFd as Fd,
      env: o.env,
      extendEnv: false,
      reject: false,
      detached: true,
    });
    const killGroup = (): void => {
      const signalGroup = (sig: NodeJS.Signals): void => {
        try {
          if (sub.pid) process.kill(-sub.pid, sig);
        } catch {
          /* already gone */
        }
      };
      signalGroup('SIGTERM');
      timers.push(setTimeout(() => signalGroup('SIGKILL'), 2000));
    };
    timers.push(
      setTimeout(() => {
        timedOut = true;
        killGroup();
      }, ctx.compileTimeoutMs),
    );
    const onAbort = (): void => {
      canceled = true;
      killGroup();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const result = await sub;
    o.signal?.removeEventListener('abort', onAbort);
    return { result, timedOut, canceled };
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const fd of [inFd, outFd, errFd]) closeSync(fd);
  }
}

function containsModule(dir: string): boolean {
  return snapshotDir(dir).some((f) => !f.dir && /\.(ko|bo|so)$/.test(f.path));
}
