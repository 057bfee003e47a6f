import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binPath, installRoot, packageVersion } from '../src/paths.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

describe('paths of the install', () => {
  it('finds the package root from the module, and the bundled commands under dist/bin', () => {
    expect(installRoot()).toBe(ROOT);
    expect(binPath('stap-serverd')).toBe(join(ROOT, 'dist', 'bin', 'stap-serverd.js'));
    for (const b of ['stap-server', 'stap-serverd', 'stap-agent', 'stap-fleet'] as const) expect(existsSync(binPath(b)), b).toBe(true);
    expect(packageVersion()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('dist/bin holds bundles (relative imports only of their own chunks), not the per-module tsc output', () => {
    for (const b of ['stap-server', 'stap-serverd', 'stap-agent', 'stap-fleet'] as const) {
      const text = readFileSync(binPath(b), 'utf8');
      const relative = [...text.matchAll(/(?:from|import\()\s*["'](\.[^"']*)["']/g)].map((m) => m[1]);
      expect(relative.length, b).toBeGreaterThan(0);
      expect(relative.filter((r) => !r!.startsWith('./chunks/')), b).toEqual([]);
      expect(text.split('\n')[0], b).toBe('#!/usr/bin/env node');
    }
  });
});
