/**
 * Bounded concurrency for compiles: at most `limit` jobs run at once (0 means one at a time, as
 * stap-serverd's "Concurrency disabled"), the rest wait in FIFO order. Accepting connections never waits here.
 */
export class WorkQueue {
  private readonly limit: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly controllers = new Set<AbortController>();
  private idleWaiters: Array<() => void> = [];

  constructor(maxThreads: number) {
    this.limit = Math.max(1, maxThreads);
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.controllers.add(controller);
    try {
      if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
      this.active++;
      try {
        controller.signal.throwIfAborted();
        return await job(controller.signal);
      } finally {
        this.active--;
        this.waiting.shift()?.();
      }
    } finally {
      this.controllers.delete(controller);
      if (this.controllers.size === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** Resolves when nothing runs or waits. */
  idle(): Promise<void> {
    if (this.controllers.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Aborts every running and queued job (their stap processes get SIGTERM). */
  abortAll(): void {
    for (const c of this.controllers) c.abort(new Error('server shutting down'));
  }
}
