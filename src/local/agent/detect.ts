/** Is an avahi-daemon running on this host? Its pid file names a live process whose comm is avahi-daemon. */
import { readFileSync } from 'node:fs';

export const DEFAULT_AVAHI_PID_FILE = '/run/avahi-daemon/pid';

export function avahiDaemonPid(pidFile = DEFAULT_AVAHI_PID_FILE, procDir = '/proc'): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const comm = readFileSync(`${procDir}/${pid}/comm`, 'utf8').trim();
    const stat = readFileSync(`${procDir}/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return comm.startsWith('avahi-daemon') && state !== 'Z' ? pid : undefined;
  } catch {
    return undefined;
  }
}

export type BackendChoice = 'auto' | 'avahi' | 'embedded';

/**
 * Which backend to use now. In auto mode a vanished avahi-daemon keeps the Avahi backend for `graceMs` (a restart
 * re-reads our service files by itself; switching to a second responder for a moment would only cause churn).
 */
export function chooseBackend(
  choice: BackendChoice,
  avahiRunning: boolean,
  current: 'avahi' | 'embedded' | undefined,
  msSinceAvahiSeen: number,
  graceMs: number,
): 'avahi' | 'embedded' {
  if (choice !== 'auto') return choice;
  if (avahiRunning) return 'avahi';
  if (current === 'avahi' && msSinceAvahiSeen < graceMs) return 'avahi';
  return 'embedded';
}
