/** Process helpers for the LAN harness: bounded command runs, liveness checks and polling. */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  failed: boolean;
  /** One line saying what went wrong ('' when exitCode is 0). */
  shortMessage: string;
  command: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

const MAX_OUTPUT = 16 * 1024 * 1024;

/** Runs argv to completion in its own process group; on timeout the whole group gets SIGKILL. */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const command = argv.join(' ');
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (err) {
      resolve(finish(null, null, '', String(err), false));
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += d;
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve(finish(null, null, stdout, stderr + String(err), false));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(finish(code, signal, stdout, stderr, timedOut));
    });
  });

  function finish(
    exitCode: number | null,
    signal: NodeJS.Signals | null,
    stdout: string,
    stderr: string,
    timedOut: boolean,
  ): RunResult {
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    const failed = exitCode !== 0;
    let shortMessage = '';
    if (timedOut) shortMessage = `Command timed out after ${timeoutMs} milliseconds: ${command}`;
    else if (signal) shortMessage = `Command was killed with ${signal}: ${command}`;
    else if (exitCode === null) shortMessage = `Command failed to start: ${command}: ${stderr.trim()}`;
    else if (failed) shortMessage = `Command failed with exit code ${exitCode}: ${command}`;
    return { exitCode, signal, stdout, stderr, durationMs, timedOut, failed, shortMessage, command };
  }
}

/** Like run(), but throws with stderr in the message when the command fails. */
export async function runOk(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.failed) throw new Error(`${r.shortMessage}\n${r.stderr.trim()}`);
  return r;
}

export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined when the process is gone. */
export function procStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** True when pid runs (zombies count as gone) and, if given, its start ticks match. */
export function isAlive(pid: number, startTicks?: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return false;
    return startTicks === undefined || rest[19] === startTicks;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls check() every intervalMs until it returns a truthy value; throws `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Spawns a long-running process with output appended to a log file. */
export function spawnLogged(
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdio?: StdioOptions; detached?: boolean },
): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: opts.stdio ?? 'ignore',
    detached: opts.detached ?? true,
  });
  child.on('error', () => undefined);
  return child;
}

/** Runs fn over items with at most `limit` in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}
