/** The script's own log lines in LOG_FILE, in SystemTap's style: `%b %e %T: Pass|Error|Exec: …`. */
import { appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeDirs } from '../system.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

export function logStamp(d = new Date()): string {
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export class ScriptLog {
  constructor(readonly file: string) {}

  private write(kind: 'Pass' | 'Error' | 'Exec', msg: string): void {
    try {
      makeDirs(dirname(this.file));
      appendFileSync(this.file, `${logStamp()}: ${kind}: ${msg}\n`);
    } catch {
      // The log is best effort: an unwritable log must not change what the action does.
    }
  }

  pass(msg: string): void {
    this.write('Pass', msg);
  }
  error(msg: string): void {
    this.write('Error', msg);
  }
  exec(msg: string): void {
    this.write('Exec', msg);
  }
}
