/**
 * Slot allocation and teardown for test LANs.
 *
 * Every LAN owns a slot k (1..254): subnet 10.78.k.0/24, namespaces `sf<k>-<tag>-h<i>` and `sf<k>-<tag>-br`,
 * scratch dir /run/stap-fleet-lan/<k>/. The slot file /run/stap-fleet-lan/slots/<k>.json is created with O_EXCL
 * before any namespace exists and removed only after they are gone, so it is the lock. A slot whose owner
 * process is dead is stale; reclaiming it is serialised by a second O_EXCL file (<k>.reclaim).
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { run, isAlive, procStartTicks, sleep } from './proc.js';

export const LAN_ROOT = process.env.STAP_FLEET_LAN_ROOT ?? '/run/stap-fleet-lan';
export const SLOTS_DIR = join(LAN_ROOT, 'slots');
export const MAX_SLOT = 254;
const NS_PATTERN = /^sf(\d+)-[a-z0-9]*-(br|h\d+)$/;

export interface SlotOwner {
  pid: number;
  startTicks: string;
  tag: string;
  createdAt: string;
  /** Filled once the hosts exist: lets tools (hexec.ts) enter a host's view. */
  hosts?: { name: string; ns: string; ip: string; anchorPid: number; dir: string }[];
}

export function slotFile(slot: number): string {
  return join(SLOTS_DIR, `${slot}.json`);
}

export function slotDir(slot: number): string {
  return join(LAN_ROOT, String(slot));
}

function readOwner(file: string): SlotOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SlotOwner;
  } catch {
    return undefined;
  }
}

function ownerAlive(owner: SlotOwner | undefined): boolean {
  return !!owner && isAlive(owner.pid, owner.startTicks);
}

/** Creates `file` exclusively with `content`; false when it already exists. */
function createExclusive(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

export function writeOwner(slot: number, owner: SlotOwner): void {
  const tmp = `${slotFile(slot)}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, JSON.stringify(owner));
  } finally {
    closeSync(fd);
  }
  // rename keeps the lock file present at every instant.
  renameSync(tmp, slotFile(slot));
}

/** Takes a free slot (reclaiming stale ones first). Throws when all slots are busy. */
export async function allocateSlot(tag: string): Promise<number> {
  mkdirSync(SLOTS_DIR, { recursive: true, mode: 0o755 });
  await cleanupStale();
  const owner: SlotOwner = {
    pid: process.pid,
    startTicks: procStartTicks(process.pid) ?? '',
    tag,
    createdAt: new Date().toISOString(),
  };
  // Start at a pid-dependent offset so parallel workers rarely race for the same file.
  const offset = process.pid % MAX_SLOT;
  for (let n = 0; n < MAX_SLOT; n++) {
    const slot = ((offset + n) % MAX_SLOT) + 1;
    if (createExclusive(slotFile(slot), JSON.stringify(owner))) {
      // Namespaces of this slot can only be leftovers of an owner that died before writing its file.
      await removeSlotNamespaces(slot);
      rmSync(slotDir(slot), { recursive: true, force: true });
      return slot;
    }
  }
  throw new Error(`no free test LAN slot in ${SLOTS_DIR} (all ${MAX_SLOT} in use by live processes)`);
}

export async function releaseSlot(slot: number): Promise<void> {
  await removeSlotNamespaces(slot);
  rmSync(slotDir(slot), { recursive: true, force: true });
  try {
    unlinkSync(slotFile(slot));
  } catch {
    /* already gone */
  }
}

export async function listNamespaces(): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list'], { timeoutMs: 10_000 });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/** Kills every process in the namespace (TERM, then KILL), waits until gone, then deletes it. Bounded. */
export async function killAndDeleteNamespace(ns: string): Promise<void> {
  const pids = async (): Promise<number[]> => {
    const r = await run(['ip', 'netns', 'pids', ns], { timeoutMs: 10_000 });
    return r.stdout
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((p) => isAlive(p));
  };
  for (const [signal, waitMs] of [
    ['SIGTERM', 1000],
    ['SIGKILL', 4000],
  ] as const) {
    const list = await pids();
    if (list.length === 0) break;
    for (const p of list) {
      try {
        process.kill(p, signal);
      } catch {
        /* gone */
      }
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && (await pids()).length > 0) await sleep(50);
  }
  await run(['ip', 'netns', 'del', ns], { timeoutMs: 10_000 });
}

async function removeSlotNamespaces(slot: number): Promise<void> {
  const mine = (await listNamespaces()).filter((ns) => NS_PATTERN.exec(ns)?.[1] === String(slot));
  // Hosts first (their veths die with them), the bridge last.
  const hosts = mine.filter((n) => !n.endsWith('-br'));
  await Promise.all(hosts.map((ns) => killAndDeleteNamespace(ns)));
  await Promise.all(mine.filter((n) => n.endsWith('-br')).map((ns) => killAndDeleteNamespace(ns)));
}

/**
 * Removes every LAN whose owner is dead (or every LAN with all=true): processes, namespaces, scratch dirs, slot
 * files. Also removes namespaces of our pattern that have no live slot file. Returns the slots cleaned.
 */
export async function cleanupStale(opts: { all?: boolean } = {}): Promise<number[]> {
  mkdirSync(SLOTS_DIR, { recursive: true, mode: 0o755 });
  const cleaned = new Set<number>();
  for (const name of readdirSync(SLOTS_DIR)) {
    const m = /^(\d+)\.json$/.exec(name);
    if (!m) continue;
    const slot = Number(m[1]);
    const owner = readOwner(slotFile(slot));
    // A file being written right now may read as garbage: only a parseable dead owner counts as stale.
    if (!owner) continue;
    if (!opts.all && ownerAlive(owner)) continue;
    if (await reclaim(slot, owner)) cleaned.add(slot);
  }
  const live = new Set<string>();
  for (const name of readdirSync(SLOTS_DIR)) {
    const m = /^(\d+)\.json$/.exec(name);
    if (m) live.add(m[1]!);
  }
  for (const ns of await listNamespaces()) {
    const m = NS_PATTERN.exec(ns);
    // Re-check at the last moment: an allocator writes its slot file before creating namespaces.
    if (m && !live.has(m[1]!) && !existsSync(slotFile(Number(m[1])))) {
      await killAndDeleteNamespace(ns);
      cleaned.add(Number(m[1]));
    }
  }
  // Scratch dirs without a slot file.
  for (const name of readdirSync(LAN_ROOT)) {
    if (/^\d+$/.test(name) && !live.has(name) && !existsSync(slotFile(Number(name)))) rmSync(join(LAN_ROOT, name), { recursive: true, force: true });
  }
  return [...cleaned].sort((a, b) => a - b);
}

async function reclaim(slot: number, owner: SlotOwner): Promise<boolean> {
  const lock = join(SLOTS_DIR, `${slot}.reclaim`);
  const me = JSON.stringify({ pid: process.pid, startTicks: procStartTicks(process.pid) ?? '' });
  if (!createExclusive(lock, me)) {
    const holder = readOwner(lock);
    if (holder && ownerAlive(holder)) return false; // someone else is reclaiming it
    try {
      unlinkSync(lock);
    } catch {
      /* raced */
    }
    if (!createExclusive(lock, me)) return false;
  }
  try {
    // Re-check under the lock: the slot may have been released and re-taken meanwhile.
    const now = readOwner(slotFile(slot));
    if (!now || now.pid !== owner.pid || now.startTicks !== owner.startTicks) return false;
    await releaseSlot(slot);
    return true;
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      /* gone */
    }
  }
}
