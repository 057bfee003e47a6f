/**
 * Runs work on many hosts with a bounded fan-out: one connection per host (reused by every command of
 * the work function), connect retried with jitter only when the server dropped us before authentication
 * (sshd's MaxStartups); every other failure is final for that host and reported with its own category.
 */
import { ConnectError } from './transport/types.js';
import type { Connection, HostCategory, HostTarget, Transport } from './transport/types.js';

export interface HostResult<T> {
  target: HostTarget;
  category: HostCategory;
  value?: T;
  shortMessage?: string;
  durationMs: number;
}

export interface RunnerProgress {
  total: number;
  done: number;
  failed: number;
  running: number;
}

export interface RunOnHostsOptions<T> {
  /** Maximum hosts in flight (default 64). */
  fanout?: number;
  /** Per-host connect timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** Connect attempts in total when dropped before auth (default 4). */
  maxConnectAttempts?: number;
  /** Base of the jittered back-off between those attempts (default 150 ms). */
  retryBaseMs?: number;
  /** Category of a successful work value; default: value.category if it has one, else 'ok'. */
  categorize?: (value: T) => { category: HostCategory; shortMessage?: string };
  onProgress?: (p: RunnerProgress) => void;
  onHostDone?: (r: HostResult<T>) => void;
}

export const DEFAULT_FANOUT = 64;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;

/** Thrown by work functions to give a host a category other than 'ok' with a message. */
export class HostWorkError extends Error {
  readonly category: HostCategory;
  constructor(category: HostCategory, message: string) {
    super(message);
    this.name = 'HostWorkError';
    this.category = category;
  }
}

function defaultCategorize(value: unknown): { category: HostCategory; shortMessage?: string } {
  if (value && typeof value === 'object' && 'category' in value) {
    const v = value as { category: HostCategory; shortMessage?: string };
    return { category: v.category, shortMessage: v.shortMessage };
  }
  return { category: 'ok' };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Connects, retrying with full jitter only for connections dropped before authentication. */
export async function connectWithRetry(
  transport: Transport,
  target: HostTarget,
  connectTimeoutMs: number,
  maxAttempts = 4,
  retryBaseMs = 150,
): Promise<Connection> {
  const deadline = Date.now() + connectTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    const remaining = Math.max(1, deadline - Date.now());
    try {
      return await transport.connect(target, { connectTimeoutMs: remaining });
    } catch (err) {
      const retryable = err instanceof ConnectError && err.droppedBeforeAuth;
      const backoff = Math.random() * retryBaseMs * 2 ** (attempt - 1);
      if (!retryable || attempt >= maxAttempts || Date.now() + backoff >= deadline) throw err;
      await sleep(backoff);
    }
  }
}

export async function runOnHosts<T>(
  targets: HostTarget[],
  transport: Transport,
  work: (conn: Connection, target: HostTarget) => Promise<T>,
  opts: RunOnHostsOptions<T> = {},
): Promise<HostResult<T>[]> {
  const fanout = Math.max(1, opts.fanout ?? DEFAULT_FANOUT);
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const categorize = opts.categorize ?? defaultCategorize;
  const results: HostResult<T>[] = new Array(targets.length);
  const progress: RunnerProgress = { total: targets.length, done: 0, failed: 0, running: 0 };
  let next = 0;

  const oneHost = async (target: HostTarget): Promise<HostResult<T>> => {
    const t0 = performance.now();
    let conn: Connection | undefined;
    try {
      conn = await connectWithRetry(transport, target, connectTimeoutMs, opts.maxConnectAttempts, opts.retryBaseMs);
      const value = await work(conn, target);
      const { category, shortMessage } = categorize(value);
      return { target, category, value, shortMessage, durationMs: performance.now() - t0 };
    } catch (err) {
      const category: HostCategory =
        err instanceof ConnectError || err instanceof HostWorkError ? err.category : 'failed';
      const message = err instanceof Error ? err.message : String(err);
      return { target, category, shortMessage: message, durationMs: performance.now() - t0 };
    } finally {
      if (conn) await conn.close().catch(() => undefined);
    }
  };

  const lane = async (): Promise<void> => {
    while (next < targets.length) {
      const index = next++;
      progress.running++;
      opts.onProgress?.({ ...progress });
      const r = await oneHost(targets[index]!);
      results[index] = r;
      progress.running--;
      progress.done++;
      if (r.category !== 'ok') progress.failed++;
      opts.onHostDone?.(r);
      opts.onProgress?.({ ...progress });
    }
  };
  await Promise.all(Array.from({ length: Math.min(fanout, targets.length) }, lane));
  return results;
}

export type { Connection, HostCategory, HostTarget, Transport };
