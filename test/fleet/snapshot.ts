/**
 * A private, world-readable copy of dist/ for the fleet tests: other suites rebuild the shared dist/ while
 * ours run, and a half-rewritten module would fail one of our runs for no reason of its own.
 */
import { chmodSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

export function snapshotDist(): { dir: string; bin: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-dist-'));
  chmodSync(dir, 0o755);
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return { dir, bin: (name) => join(dir, 'dist/bin', `${name}.js`), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
