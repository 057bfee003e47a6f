/** Stopping one compile server: SIGTERM, a bounded wait for it to go, then SIGKILL. */
import { processIdentity } from '../system.js';

export interface StopOutcome {
  /** True when the process is gone (or was already gone). */
  stopped: boolean;
  /** True when SIGTERM was not enough within the bound. */
  killed: boolean;
  /** True when we may not signal the process (not root, not its owner). */
  denied?: boolean;
  durationMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Gone means: no /proc entry, or a different process (start ticks) now has the pid. */
function gone(pid: number, startTicks: string | undefined): boolean {
  const id = processIdentity(pid);
  return !id || (startTicks !== undefined && id.startTicks !== startTicks);
}

async function waitGone(pid: number, startTicks: string | undefined, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
    if (gone(pid, startTicks)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(delay);
  }
}

export async function stopServer(pid: number, startTicks: string | undefined, timeoutMs: number): Promise<StopOutcome> {
  const t0 = Date.now();
  const ticks = startTicks ?? processIdentity(pid)?.startTicks;
  let denied = false;
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(pid, s);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPERM') denied = true; // ESRCH: already gone
    }
  };
  if (gone(pid, ticks)) return { stopped: true, killed: false, durationMs: 0 };
  signal('SIGTERM');
  if (denied) return { stopped: false, killed: false, denied, durationMs: Date.now() - t0 };
  if (await waitGone(pid, ticks, timeoutMs)) return { stopped: true, killed: false, durationMs: Date.now() - t0 };
  signal('SIGKILL');
  const stopped = await waitGone(pid, ticks, 2000);
  return { stopped, killed: true, durationMs: Date.now() - t0 };
}
