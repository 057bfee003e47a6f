#!/usr/bin/env node
/**
 * Bundles each entry point of src/bin into dist/bin/<name>.js (shared code in dist/bin/chunks/), over the
 * tsc output. Why: a process start that resolves and compiles ~100 ESM files and execa's dependency tree
 * costs 40-90 ms of CPU per process; the service starts one daemon per server and the fleet runs
 * `stap-server status` on every host, so start-up CPU is most of their cost. Lazy `import()`s stay lazy
 * (code splitting). ssh2 stays external: it loads an optional native addon by relative path.
 */
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entries = readdirSync(join(root, 'src', 'bin'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(root, 'src', 'bin', f));

// Chunk names carry content hashes: drop the previous build's so none goes stale.
rmSync(join(root, 'dist', 'bin', 'chunks'), { recursive: true, force: true });

await build({
  entryPoints: entries,
  outdir: join(root, 'dist', 'bin'),
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  external: ['ssh2', 'cpu-features'],
  // Bundled CommonJS dependencies call require() for Node built-ins; ESM output has none of its own.
  banner: { js: "import { createRequire as __stapFleetCreateRequire } from 'node:module'; const require = __stapFleetCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
