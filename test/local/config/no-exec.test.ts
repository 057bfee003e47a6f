/** Property: the config parser cannot run anything. Its whole import graph avoids process-spawning modules. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const srcRoot = resolve(import.meta.dirname, '../../../src');
const FORBIDDEN_MODULES = /^(node:)?(child_process|worker_threads|cluster|vm)$|^execa$/;
// RegExp#exec is fine; a bare exec()/spawn() call (or eval) is not.
const FORBIDDEN_CALLS = /(?<![.\w])(eval|Function|spawn|spawnSync|exec|execSync|execFile|execFileSync|fork)\s*\(|process\.binding/;

/** All modules reachable from `entry` by relative imports; external specifiers are collected separately. */
function importGraph(entry: string): { files: string[]; external: Set<string> } {
  const files: string[] = [];
  const external = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (files.includes(file)) continue;
    files.push(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else external.add(spec);
    }
  }
  return { files, external };
}

describe('the config parser never spawns a process', () => {
  const { files, external } = importGraph(join(srcRoot, 'local/config/index.ts'));

  it('covers every module of src/local/config', () => {
    expect(files.filter((f) => f.includes('/local/config/')).length).toBeGreaterThanOrEqual(9);
  });

  it('imports only harmless built-ins', () => {
    expect([...external].filter((s) => FORBIDDEN_MODULES.test(s))).toEqual([]);
    expect([...external].sort()).toEqual(['node:fs', 'node:os', 'node:path']);
  });

  it('contains no eval, Function(), spawn or exec', () => {
    const offenders = files.filter((f) => FORBIDDEN_CALLS.test(readFileSync(f, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')));
    expect(offenders).toEqual([]);
  });
});
