/**
 * Facts about the host the service needs: architecture, kernel releases, users and groups, and the
 * identity of processes. Reads /proc, the user and group databases (/etc files first, then getent, so NSS applies) and
 * /lib/modules; every path is a parameter so tests can point elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { machine, release as osRelease, hostname as osHostname } from 'node:os';
import { dirname, resolve } from 'node:path';

/** stap_get_arch: `uname -m` mapped to the names SystemTap uses (stap-env). */
export function stapArch(unameMachine: string = machine()): string {
  const m = unameMachine;
  if (/^i.86$/.test(m)) return 'i386';
  if (m === 'sun4u') return 'sparc64';
  if (/^(arm|sa1)/.test(m)) return 'arm';
  if (m === 'aarch64') return 'arm64';
  if (m.startsWith('s390')) return 's390';
  if (m.startsWith('ppc')) return 'powerpc';
  if (m.startsWith('mips')) return 'mips';
  if (/^sh.$/.test(m)) return 'sh';
  return m;
}

export function kernelRelease(): string {
  return osRelease();
}

/** `uname -n`: the UTS host name (per network-namespace host in tests). */
export function nodeName(): string {
  return osHostname();
}

/** Entries of /lib/modules (or the given directory), sorted like `ls`. */
export function installedReleases(modulesDir = '/lib/modules'): string[] {
  try {
    return readdirSync(modulesDir).sort();
  } catch {
    return [];
  }
}

export interface UserInfo {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

// One invocation asks about the same user several times (per server, per check): ask NSS once.
const getentCache = new Map<string, string | undefined>();
const groupIdsCache = new Map<string, number[]>();

function getent(db: string, key: string): string | undefined {
  const k = `${db}:${key}`;
  if (!getentCache.has(k)) getentCache.set(k, getentUncached(db, key));
  return getentCache.get(k);
}

function getentUncached(db: string, key: string): string | undefined {
  // Local accounts (the usual stap-server) are answered from the files; getent (NSS: LDAP, sssd...) otherwise.
  const local = localDbLine(db, key);
  if (local) return local;
  try {
    return execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch {
    return undefined;
  }
}

const localDbCache = new Map<string, string[]>();

function localDbLines(db: string): string[] {
  let lines = localDbCache.get(db);
  if (!lines) {
    try {
      lines = readFileSync(`/etc/${db}`, 'utf8').split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('+'));
    } catch {
      lines = [];
    }
    localDbCache.set(db, lines);
  }
  return lines;
}

/** The /etc/passwd or /etc/group line whose name (or, for a number, id) is key. */
function localDbLine(db: string, key: string): string | undefined {
  if (db !== 'passwd' && db !== 'group') return undefined;
  const byId = /^\d+$/.test(key);
  return localDbLines(db).find((l) => {
    const f = l.split(':');
    return byId ? f[2] === key : f[0] === key;
  });
}

export function lookupUser(name: string): UserInfo | undefined {
  const line = getent('passwd', name);
  if (!line) return undefined;
  const f = line.split(':');
  if (f.length < 7) return undefined;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! };
}

export interface GroupInfo {
  name: string;
  gid: number;
  members: string[];
}

export function lookupGroup(name: string): GroupInfo | undefined {
  const line = getent('group', name);
  if (!line) return undefined;
  const f = line.split(':');
  return { name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) };
}

/** Group ids of a user: primary plus supplementary (`id -G`). */
export function userGroupIds(user: UserInfo): number[] {
  let ids = groupIdsCache.get(user.name);
  if (!ids && localDbLine('passwd', user.name)) {
    // A local account: its supplementary groups are the local groups that list it.
    const members = localDbLines('group').filter((l) => (l.split(':')[3] ?? '').split(',').includes(user.name));
    ids = [user.gid, ...members.map((l) => Number(l.split(':')[2]))];
    groupIdsCache.set(user.name, ids);
  }
  if (!ids) {
    try {
      const out = execFileSync('id', ['-G', user.name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      ids = out.trim().split(/\s+/).map(Number);
    } catch {
      ids = [user.gid];
    }
    groupIdsCache.set(user.name, ids);
  }
  return ids;
}

export function isUserInGroup(user: UserInfo, group: GroupInfo): boolean {
  return user.gid === group.gid || group.members.includes(user.name) || userGroupIds(user).includes(group.gid);
}

/** Whether `user` may open `path` for reading (`want` 4) or writing (2): traversal of every ancestor plus the mode bits. */
export function userMayAccess(user: UserInfo, path: string, want: 4 | 2 = 4): boolean {
  if (user.uid === 0) return true;
  const groups = userGroupIds(user);
  const allowed = (p: string, bit: number): boolean => {
    const st = statSync(p);
    const shift = st.uid === user.uid ? 6 : groups.includes(st.gid) ? 3 : 0;
    return ((st.mode >> shift) & bit) !== 0;
  };
  try {
    const abs = resolve(path);
    const chain: string[] = [];
    for (let d = dirname(abs); ; d = dirname(d)) {
      chain.push(d);
      if (d === dirname(d)) break;
    }
    return chain.every((d) => allowed(d, 1)) && allowed(abs, want);
  } catch {
    return false;
  }
}

export interface ProcessIdentity {
  pid: number;
  comm: string;
  /** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot, as text (no precision loss). */
  startTicks: string;
}

/** The identity of a live process, or undefined when /proc/<pid> does not exist. */
export function processIdentity(pid: number, procDir = '/proc'): ProcessIdentity | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`${procDir}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: it spans from the first '(' to the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const state = rest[0];
  if (state === 'Z' || state === 'X') return undefined; // a zombie no longer serves anything
  return { pid, comm: text.slice(open + 1, close), startTicks: rest[19] ?? '' };
}

export const SERVERD_COMM = 'stap-serverd';

/**
 * Whether pid is the compile server we recorded: its comm is stap-serverd and, when we know the start
 * ticks (our sidecar), they match, so a recycled pid never passes.
 */
export function isServerAlive(pid: number, startTicks?: string, procDir = '/proc'): boolean {
  const id = processIdentity(pid, procDir);
  if (!id || id.comm !== SERVERD_COMM) return false;
  return startTicks === undefined || startTicks === '' || id.startTicks === startTicks;
}

export function currentUserName(): string {
  return lookupUserById(process.getuid?.() ?? 0)?.name ?? 'root';
}

function lookupUserById(uid: number): UserInfo | undefined {
  const line = getent('passwd', String(uid));
  if (!line) return undefined;
  const f = line.split(':');
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! };
}

/**
 * mkdir -p that gives every directory it creates an explicit mode: under a hardened root umask (027, 077)
 * plain mkdir would make the log and status directories unusable for the server user and for non-root
 * readers. Returns the directories it created, outermost first.
 */
export function makeDirs(dir: string, mode = 0o755): string[] {
  const created: string[] = [];
  for (let d = resolve(dir); !existsSync(d) && d !== dirname(d); d = dirname(d)) created.unshift(d);
  mkdirSync(dir, { recursive: true, mode });
  for (const d of created) chmodSync(d, mode);
  return created;
}
