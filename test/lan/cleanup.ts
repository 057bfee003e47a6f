/**
 * Removes stale test LANs: `tsx test/lan/cleanup.ts [--all]`.
 * Stale = the owning process is dead (or, with --all, every LAN). Kills the processes in their namespaces,
 * deletes the namespaces, scratch dirs and slot files. CI runs it before the tests.
 */
import { cleanupStale } from './slots.js';

const all = process.argv.includes('--all');
if (process.argv.includes('--help')) {
  console.log('usage: tsx test/lan/cleanup.ts [--all]\n  removes test LANs whose owner process is dead (--all: every test LAN)');
} else {
  const t0 = Date.now();
  const slots = await cleanupStale({ all });
  console.log(`removed ${slots.length} stale test LAN(s)${slots.length ? ` (slots ${slots.join(', ')})` : ''} in ${Date.now() - t0} ms`);
}
