/** stap-serverd-style log lines: `<ctime()>: message`, appended to --log FILE or written to stderr. */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** C's ctime() in local time without the trailing newline: `Thu Nov  5 04:54:07 2026`. */
export function ctime(d: Date): string {
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

export interface Logger {
  log(message: string): void;
  close(): void;
}

/** Opens the log (append; parent dir created) or falls back to stderr when no file is given. */
export function openLogger(file: string | undefined, now: () => Date = () => new Date()): Logger {
  let fd = 2;
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    fd = openSync(file, 'a', 0o644);
  }
  return {
    log(message: string) {
      // One write per line (O_APPEND) so that lines of several servers sharing a file never interleave.
      try {
        writeSync(fd, `${ctime(now())}: ${message}\n`);
      } catch {
        /* a full disk must not kill the server */
      }
    },
    close() {
      if (fd !== 2) closeSync(fd);
    },
  };
}
