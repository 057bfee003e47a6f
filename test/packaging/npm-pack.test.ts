/**
 * The npm package: `npm pack` gives a tarball whose four bins work after a global install in a scratch prefix,
 * and whose packaging/install.sh installs the service from that package (into a scratch root).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchRoot } from './scratch-root.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BINS = ['stap-server', 'stap-serverd', 'stap-agent', 'stap-fleet'];
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
};

let scratch: string;
let tarball: string;
let entries: string[];
let prefix: string;
let install: ReturnType<typeof spawnSync>;

// Outside the clone, with a PATH that has no node_modules/.bin: what a user of the package has.
const cleanEnv = () => ({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1' });

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sf-pack-'));
  // --ignore-scripts: the test suite's global setup already built dist/ (prepack would rebuild it while other
  // suites run the binaries); that prepack builds is asserted separately below.
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const info = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(scratch, info[0]!.filename);
  entries = info[0]!.files.map((f) => f.path);
  prefix = join(scratch, 'prefix');
  install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    cwd: scratch,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, ...cleanEnv() },
  });
}, 300_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('npm package', () => {
  it('package.json declares the four bins, ships dist/ and builds it before packing', () => {
    for (const b of BINS) expect(pkg.bin[b]).toBe(`dist/bin/${b}.js`);
    expect(pkg.files).toContain('dist/bin/');
    expect(pkg.files).toContain('packaging/');
    expect(pkg.scripts.prepack).toBe('npm run build');
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.json && node scripts/bundle.mjs');
  });

  it('every bin starts with a #!/usr/bin/env node line, in src and in the build', () => {
    for (const b of BINS) {
      expect(readFileSync(join(ROOT, `src/bin/${b}.ts`), 'utf8').split('\n')[0], b).toBe('#!/usr/bin/env node');
      expect(readFileSync(join(ROOT, `dist/bin/${b}.js`), 'utf8').split('\n')[0], b).toBe('#!/usr/bin/env node');
    }
  });

  it('the tarball holds the build, the units, the samples, install.sh and the README, and no sources or tests', () => {
    for (const b of BINS) expect(entries).toContain(`dist/bin/${b}.js`);
    for (const f of ['packaging/install.sh', 'packaging/systemd/stap-server.service', 'packaging/systemd/stap-agent.service', 'packaging/sysconfig/stap-server', 'packaging/conf.d/native.conf', 'README.md', 'package.json']) {
      expect(entries).toContain(f);
    }
    expect(entries.filter((e) => /^(src|test|demo|bench|scripts)\//.test(e))).toEqual([]);
  });

  it('installs globally in a scratch prefix with its production dependencies only', () => {
    expect(install.status, String(install.stderr)).toBe(0);
    for (const b of BINS) expect(existsSync(join(prefix, 'bin', b)), b).toBe(true);
    const mods = readdirSync(join(prefix, 'lib/node_modules', pkg.name, 'node_modules'));
    expect(mods).toContain('commander');
    expect(mods).not.toContain('typescript');
    expect(mods).not.toContain('vitest');
  });

  it.each(BINS)('%s --help runs from the global install and exits 0', (b) => {
    const r = spawnSync(join(prefix, 'bin', b), ['--help'], { cwd: scratch, encoding: 'utf8', timeout: 30_000, env: cleanEnv() });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage: /);
  });

  it("the package's own packaging/install.sh installs the service from it (scratch root)", () => {
    const root = createScratchRoot();
    try {
      const script = join(prefix, 'lib/node_modules', pkg.name, 'packaging/install.sh');
      const r = root.run(`bash ${script} && /usr/local/bin/stap-fleet --help >/dev/null && /usr/local/bin/stap-server --help >/dev/null && echo ok`);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^ok$/m);
      const lib = root.path('/usr/local/lib/stap-fleet');
      expect(existsSync(join(lib, 'node_modules/commander/package.json'))).toBe(true);
      expect(existsSync(root.path('/etc/systemd/system/stap-server.service'))).toBe(true);
    } finally {
      root.destroy();
    }
  });
});
