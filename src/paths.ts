/**
 * Where the installed project lives. Modules run from several layouts (src/ under the tests, dist/ from
 * tsc, dist/bin/chunks/ from the bundles), so paths are found from the package root, never relative to
 * the calling module's own directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The directory holding package.json (name stap-fleet), dist/ and node_modules/. */
export function installRoot(): string {
  if (cachedRoot) return cachedRoot;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && isOurPackage(pkg)) return (cachedRoot = dir);
    if (dir === dirname(dir)) throw new Error(`stap-fleet: no package.json above ${fileURLToPath(import.meta.url)}`);
  }
}

function isOurPackage(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'stap-fleet';
  } catch {
    return false;
  }
}

/** dist/bin/<name>.js: the executable of one of the project's commands. */
export function binPath(name: 'stap-server' | 'stap-serverd' | 'stap-agent' | 'stap-fleet'): string {
  return join(installRoot(), 'dist', 'bin', `${name}.js`);
}

/** The project's version from package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(installRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
