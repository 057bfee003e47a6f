/**
 * Running the agent in the background: pid file, `start`/`stop`, and ensureAgentRunning() which `stap-server start`
 * calls so that its servers get advertised.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StapFleetError } from '../../errors.js';
import { binPath } from '../../paths.js';
import { DEFAULT_STAT_PATH } from './daemon.js';
import { defaultLogFile, pidFile, readState } from './state.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The pid in STAT_PATH/.stap-agent.pid when that process is a live stap-agent; else undefined. */
export function runningAgentPid(statPath: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile(statPath), 'utf8').trim());
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 0 && isAgentProcess(pid) ? pid : undefined;
}

function isAgentProcess(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('stap-agent');
  } catch {
    return false;
  }
}

/**
 * Claims the pid file for this process (O_EXCL; a stale file of a dead agent is replaced). Throws when another
 * agent runs for the same STAT_PATH.
 */
export function claimPidFile(statPath: string): void {
  mkdirSync(statPath, { recursive: true });
  const file = pidFile(statPath);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const other = runningAgentPid(statPath);
      if (other && other !== process.pid) throw new StapFleetError('SF_AGENT_RUNNING', { pid: other, statPath });
      rmSync(file, { force: true });
    }
  }
  throw new StapFleetError('SF_AGENT_START', { detail: `cannot create ${file}` });
}

export function releasePidFile(statPath: string): void {
  try {
    if (Number(readFileSync(pidFile(statPath), 'utf8').trim()) === process.pid) rmSync(pidFile(statPath), { force: true });
  } catch {
    /* gone */
  }
}

export interface EnsureAgentOptions {
  /** STAT_PATH the servers are recorded in (the agent watches it and keeps its pid and state files there). */
  statPath?: string;
  /** The service's LOG_FILE: the agent logs to stap-agent.log in the same directory. */
  logFile?: string;
  /** Explicit agent log file (wins over logFile). */
  agentLog?: string;
  /** Extra `stap-agent run` arguments (e.g. ['--backend', 'embedded']). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Bound on waiting for the agent to report its first state (default 10 s). */
  timeoutMs?: number;
}

export interface EnsureAgentResult {
  pid: number;
  started: boolean;
  /** true when STAP_FLEET_AGENT=off disabled it. */
  disabled?: boolean;
  log?: string;
}

const AGENT_BIN = binPath('stap-agent');

/**
 * Makes sure a stap-agent runs for statPath: returns at once when one does, else starts `stap-agent run` detached
 * and waits until it has written its first state (so the servers already present are being advertised).
 * STAP_FLEET_AGENT=off in the environment disables it.
 */
export async function ensureAgentRunning(opts: EnsureAgentOptions = {}): Promise<EnsureAgentResult> {
  const env = opts.env ?? process.env;
  if ((env.STAP_FLEET_AGENT ?? '').toLowerCase() === 'off') return { pid: 0, started: false, disabled: true };
  const statPath = opts.statPath ?? env.STAT_PATH ?? DEFAULT_STAT_PATH;
  const existing = runningAgentPid(statPath);
  if (existing) return { pid: existing, started: false };
  const log = opts.agentLog ?? (opts.logFile ? join(dirname(opts.logFile), 'stap-agent.log') : defaultLogFile(statPath));
  return startAgentProcess(statPath, log, opts.args ?? [], env, opts.timeoutMs ?? 10_000);
}

export async function startAgentProcess(statPath: string, log: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<EnsureAgentResult> {
  mkdirSync(statPath, { recursive: true });
  let fd: number;
  try {
    mkdirSync(dirname(log), { recursive: true });
    fd = openSync(log, 'a', 0o644);
  } catch (e) {
    throw new StapFleetError('SF_AGENT_START', { detail: `cannot open log ${log}: ${(e as Error).message}` });
  }
  const child = spawn(process.execPath, [AGENT_BIN, 'run', '--stat-path', statPath, ...args], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env,
  });
  closeSync(fd);
  let exited: string | undefined;
  child.on('exit', (code, signal) => (exited = signal ?? String(code)));
  child.on('error', (e) => (exited = e.message));
  child.unref();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      // Lost a race with another starter: that one is fine too.
      const other = runningAgentPid(statPath);
      if (other) return { pid: other, started: false, log };
      throw new StapFleetError('SF_AGENT_START', { detail: `stap-agent exited (${exited}); see ${log}` });
    }
    if (readState(statPath)?.pid === child.pid) return { pid: child.pid!, started: true, log };
    await sleep(25);
  }
  throw new StapFleetError('SF_AGENT_START', { detail: `stap-agent did not report ready within ${timeoutMs} ms; see ${log}` });
}

/** Sends SIGTERM to the running agent and waits (bounded) until it has withdrawn everything and exited. */
export async function stopAgent(statPath: string, timeoutMs = 10_000): Promise<{ pid?: number; stopped: boolean }> {
  const pid = runningAgentPid(statPath);
  if (!pid) {
    rmSync(pidFile(statPath), { force: true });
    return { stopped: false };
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAgentProcess(pid)) return { pid, stopped: true };
    await sleep(25);
  }
  process.kill(pid, 'SIGKILL');
  throw new StapFleetError('SF_AGENT_STOP', { pid, detail: `did not exit within ${timeoutMs} ms (killed)` });
}
