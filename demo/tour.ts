/**
 * The guided tour's voice: numbered steps, the commands run on each host with their output, and a verdict per
 * step. Plain text (colour only on a TTY without NO_COLOR), so a log of the demo reads like the terminal.
 */
import type { RunResult } from '../test/lan/index.js';

export class StepFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepFailed';
  }
}

const useColour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
const paint = (code: string) => (s: string) => (useColour ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = paint('1');
const green = paint('32');
const red = paint('31');
const dim = paint('2');

export interface StepRecord {
  n: number;
  title: string;
  ok: boolean;
  durationMs: number;
  error?: string;
}

export class Tour {
  readonly steps: StepRecord[] = [];
  private readonly started = Date.now();
  private current = 0;
  /** Set when the tour is interrupted: no new step starts and the step in flight is no longer narrated. */
  private abortedBy: string | undefined;

  constructor(private readonly total: number) {}

  abort(reason: string): void {
    this.abortedBy ??= reason;
  }

  get aborted(): string | undefined {
    return this.abortedBy;
  }

  /** Call after each await that precedes creating something: an interrupted tour creates nothing more. */
  checkpoint(): void {
    if (this.abortedBy) throw new StepFailed(this.abortedBy);
  }

  say(line = ''): void {
    if (!this.abortedBy) process.stdout.write(line + '\n');
  }

  /** Printed even after an interruption (teardown and the verdict). */
  announce(line = ''): void {
    process.stdout.write(line + '\n');
  }

  /** Indented block (output of a command, a file's content). */
  block(text: string, indent = '      '): void {
    const body = text.replace(/\s+$/, '');
    if (!body) return;
    for (const l of body.split('\n')) this.say(indent + l);
  }

  /** Shows `host# command` and its output; returns the result unchanged. */
  shown(host: string, command: string, r: RunResult, opts: { stderr?: boolean } = {}): RunResult {
    this.say(`    ${dim(host + '#')} ${command}`);
    this.block(r.stdout);
    if (opts.stderr ?? r.failed) this.block(r.stderr);
    if (r.failed) this.say(`      ${red(`-> ${r.shortMessage || `exit ${r.exitCode}`}`)}`);
    return r;
  }

  async step<T>(title: string, fn: () => Promise<T>): Promise<T> {
    if (this.abortedBy) throw new StepFailed(this.abortedBy);
    const n = ++this.current;
    this.say();
    this.say(bold(`[${n}/${this.total}] ${title}`));
    const t0 = Date.now();
    try {
      const v = await fn();
      const durationMs = Date.now() - t0;
      this.steps.push({ n, title, ok: true, durationMs });
      this.say(`    ${green('ok')} ${dim(`(${seconds(durationMs)})`)}`);
      return v;
    } catch (err) {
      const durationMs = Date.now() - t0;
      const message = err instanceof Error ? err.message : String(err);
      this.steps.push({ n, title, ok: false, durationMs, error: message });
      this.say(`    ${red('FAILED')}: ${message} ${dim(`(${seconds(durationMs)})`)}`);
      throw err;
    }
  }

  elapsedMs(): number {
    return Date.now() - this.started;
  }
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Throws StepFailed with the command's own words when it did not exit with one of `codes`. */
export function expectExit(what: string, r: RunResult, codes: number[] = [0]): RunResult {
  if (r.exitCode === null || !codes.includes(r.exitCode)) {
    const detail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ');
    throw new StepFailed(`${what}: ${r.shortMessage || `exit ${r.exitCode}`}${detail ? `: ${detail}` : ''}`);
  }
  return r;
}
