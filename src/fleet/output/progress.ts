/** One status line on stderr, rewritten in place; only when stderr is a TTY. */
import type { RunnerProgress } from '../runner.js';

export interface Progress {
  update(p: RunnerProgress): void;
  done(): void;
}

export function makeProgress(stream: NodeJS.WriteStream, enabled: boolean, label: string): Progress {
  if (!enabled || !stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 80 && p.done !== p.total) return;
      last = now;
      shown = true;
      stream.write(`\r\x1b[K${label}: ${p.done}/${p.total} done, ${p.failed} failed, ${p.running} running`);
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
    },
  };
}
