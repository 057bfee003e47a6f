/** The files a simulated host owns: each path below is bind-mounted from the host's scratch dir in its view. */
import { readFileSync } from 'node:fs';

export interface ViewMount {
  /** Absolute path as programs inside the host see it. */
  path: string;
  /** Subdirectory of <hostDir>/fs/ that backs it. */
  backing: string;
  /** Owner of the backing directory ('root' or 'stap-server'). */
  owner: 'root' | 'stap-server';
  mode: number;
}

export const VIEW_MOUNTS: readonly ViewMount[] = [
  { path: '/etc/systemtap', backing: 'etc-systemtap', owner: 'root', mode: 0o755 },
  { path: '/etc/stap-server', backing: 'etc-stap-server', owner: 'root', mode: 0o755 },
  { path: '/etc/sysconfig', backing: 'etc-sysconfig', owner: 'root', mode: 0o755 },
  { path: '/etc/avahi/services', backing: 'etc-avahi-services', owner: 'root', mode: 0o755 },
  // /var/run is a symlink to /run on Debian.
  { path: '/run/stap-server', backing: 'run-stap-server', owner: 'root', mode: 0o755 },
  { path: '/var/log/stap-server', backing: 'var-log-stap-server', owner: 'stap-server', mode: 0o755 },
  { path: '/run/avahi-daemon', backing: 'run-avahi-daemon', owner: 'root', mode: 0o755 },
  { path: '/run/dbus', backing: 'run-dbus', owner: 'root', mode: 0o755 },
  { path: '/var/lib/stap-server', backing: 'var-lib-stap-server', owner: 'stap-server', mode: 0o755 },
  { path: '/root/.systemtap', backing: 'root-systemtap', owner: 'root', mode: 0o700 },
  // Empty per host: a test allows sudo on one host only (LanHost.allowSudo), never on the real machine.
  { path: '/etc/sudoers.d', backing: 'etc-sudoers-d', owner: 'root', mode: 0o755 },
];

/** Normalises /var/run/... to /run/... (the same directory on Debian). */
export function canonicalViewPath(p: string): string {
  return p.startsWith('/var/run/') || p === '/var/run' ? p.replace(/^\/var\/run/, '/run') : p;
}

export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** Looks a user up in /etc/passwd (parsed, never executed). */
export function lookupUser(name: string): UserEntry {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 7) {
      return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! };
    }
  }
  throw new Error(`user '${name}' does not exist (run scripts/setup.sh)`);
}
