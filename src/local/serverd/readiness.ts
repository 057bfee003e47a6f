/**
 * Readiness report on fd 3, the contract with the service launcher: one line `READY port=<n>
 * certinfo=<xx:..>` or `ERROR <message>`, then fd 3 is closed. Without an open fd 3 nothing happens.
 */
import { closeSync, fstatSync, writeSync } from 'node:fs';

const READY_FD = 3;

export class ReadinessReporter {
  private open: boolean;

  constructor(private readonly fd: number = READY_FD) {
    this.open = isOpen(fd);
  }

  ready(port: number, certinfo: string): void {
    this.send(`READY port=${port} certinfo=${certinfo}\n`);
  }

  error(message: string): void {
    this.send(`ERROR ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  }

  private send(line: string): void {
    if (!this.open) return;
    this.open = false;
    try {
      writeSync(this.fd, line);
    } catch {
      /* the launcher went away: nothing to report to */
    }
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

/**
 * Without a launcher, libuv itself owns fd 3 (its epoll instance, an anonymous inode): only a pipe,
 * socket or file handed to us counts as the readiness channel, so we never write to or close libuv's fd.
 */
function isOpen(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket() || st.isFile();
  } catch {
    return false;
  }
}
