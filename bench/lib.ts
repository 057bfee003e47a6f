/** Shared helpers for benchmarks: timing, medians, and recording results for docs/BENCHMARKS.md. */
import { chownSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import type { LanHost } from '../test/lan/index.js';
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = join(BENCH_DIR, 'results');

export interface Measurement {
  /** What was measured, e.g. "start of 3 servers". */
  name: string;
  /** Our figure and the baseline's, in the same unit (ms unless unit says otherwise). */
  ours: number;
  baseline: number;
  baselineName: string;
  unit: string;
  /** ours / baseline (lower is better unless higherIsBetter). */
  ratio: number;
  higherIsBetter?: boolean;
  /** The target, as text, e.g. "ratio <= 1.0". */
  target: string;
  met: boolean;
  runs: number;
  notes?: string;
}

export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function measurement(m: Omit<Measurement, 'ratio' | 'met'> & { check: (ratio: number) => boolean }): Measurement {
  const ratio = m.ours / m.baseline;
  const { check, ...rest } = m;
  return { ...rest, ratio: Math.round(ratio * 1000) / 1000, met: check(ratio) };
}

/** Writes bench/results/<area>.json, which bench/run.ts turns into docs/BENCHMARKS.md. */
export function record(area: string, title: string, measurements: Measurement[], setup: string): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(
    join(RESULTS_DIR, `${area}.json`),
    JSON.stringify({ area, title, setup, date: new Date().toISOString(), measurements }, null, 2),
  );
}

/** A log directory and file under dir that the stap-server user can append to; returns the file. */
export function stapServerLogFile(dir: string): string {
  const logDir = join(dir, 'log');
  mkdirSync(logDir, { recursive: true });
  const uid = Number(execFileSync('id', ['-u', 'stap-server'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'stap-server'], { encoding: 'utf8' }));
  chownSync(logDir, uid, gid);
  const log = join(logDir, 'all.log');
  closeSync(openSync(log, 'a'));
  chownSync(log, uid, gid);
  return log;
}

/**
 * An ed25519 key in dir (dir/id) authorized on every host's sshd, started 10 at a time (all at once
 * overloads the 2 cores), and dir/known_hosts listing every host key: what each SSH tool is pointed at.
 */
export async function sshdOnHosts(hosts: readonly LanHost[], dir: string): Promise<{ identity: string; knownHosts: string }> {
  const identity = join(dir, 'id');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', identity]);
  const pub = readFileSync(`${identity}.pub`, 'utf8');
  const known: string[] = [];
  for (let i = 0; i < hosts.length; i += 10) {
    const batch = await Promise.all(hosts.slice(i, i + 10).map((h) => h.startSshd({ authorizedKeys: [pub] })));
    known.push(...batch.map((s) => s.knownHostsLine));
  }
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, known.join('\n') + '\n');
  return { identity, knownHosts };
}
