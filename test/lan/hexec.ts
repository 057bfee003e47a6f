/**
 * Runs a command on a host of a live test LAN (for demos and debugging):
 *   tsx test/lan/hexec.ts <slot|tag> <host> <command...>
 * e.g. `tsx test/lan/hexec.ts srv h2 avahi-browse -rpt _stap._tcp`. It enters the host's anchor namespaces
 * (network, mount view, hostname), exactly like LanHost.exec.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SLOTS_DIR, type SlotOwner } from './slots.js';

const [which, hostName, ...argv] = process.argv.slice(2);
if (!which || !hostName || argv.length === 0) {
  console.error('usage: tsx test/lan/hexec.ts <slot|tag> <host> <command...>');
  process.exit(2);
}
let found: SlotOwner | undefined;
for (const f of readdirSync(SLOTS_DIR)) {
  const m = /^(\d+)\.json$/.exec(f);
  if (!m) continue;
  const o = JSON.parse(readFileSync(join(SLOTS_DIR, f), 'utf8')) as SlotOwner;
  if (m[1] === which || o.tag === which) found = o;
}
const host = found?.hosts?.find((h) => h.name === hostName);
if (!host) {
  console.error(`hexec: no live test LAN '${which}' with host '${hostName}' in ${SLOTS_DIR}`);
  process.exit(1);
}
const r = spawnSync('nsenter', ['-t', String(host.anchorPid), '-n', '-m', '-u', `--wdns=${process.cwd()}`, '--', ...argv], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
