/**
 * The README's first command runs the guided tour (demo/main.ts): end to end on a real 5-host test LAN, a failing
 * run (the tour's time bound) that still tears everything down, and the staging of the code when the clone is not
 * readable by user stap-server.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { productionModules, readableBy, resolveCodeRoot } from '../../demo/stage.js';

const ROOT = resolve(import.meta.dirname, '../..');
const scratch: string[] = [];

function runDemo(env: Record<string, string> = {}, timeoutMs = 280_000) {
  const r = spawnSync('npx', ['tsx', 'demo/main.ts'], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1', ...env } });
  return { status: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** Namespaces of demo LANs still present (tag 'demo'; only this file runs the demo in the suite). */
function leftovers(): string[] {
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  return ns.split('\n').map((l) => l.split(' ')[0]!).filter((n) => /^sf\d+-demo-/.test(n));
}

afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe('the demo (bash scripts/demo.sh -> npx tsx demo/main.ts)', () => {
  it('runs the whole fleet tour end to end and exits 0', () => {
    const t0 = Date.now();
    const { status, out } = runDemo();
    expect(status, out).toBe(0);
    // every step, in order
    for (let n = 1; n <= 11; n++) expect(out, `step ${n}`).toContain(`[${n}/11] `);
    expect(out).toMatch(/kernel release with headers: \S+ \(from \/lib\/modules\/\S+\/build\/\.config/);
    // conf.d servers started by stap-server on both server hosts
    expect(out).toMatch(/h1# stap-server start\n\s+Starting stap-server -a "\S+" -r "\S+" -u "stap-server" -n "h1-native" .* OK/);
    expect(out).toMatch(/h2# stap-server start\n\s+Starting stap-server -a "\S+" -r "\S+" -u "stap-server" -n "h2-native" .* OK/);
    expect(out).toMatch(/Starting stap-agent: OK/);
    // discovery and fleet status
    expect(out).toMatch(/^\s+h1\s+advertised\s/m);
    expect(out).toMatch(/^\s+h1\s+running, advertised\s+\d+\s+h1-native/m);
    expect(out).toMatch(/^\s+h2\s+running, advertised\s+\d+\s+h2-native/m);
    // trust enrollment of both clients, then the compile through a discovered server
    expect(out).toMatch(/^\s+h3\s+added\s+added\s+ok \(changed\)/m);
    expect(out).toMatch(/^\s+h4\s+added\s+added\s+ok \(changed\)/m);
    expect(out).toContain("h3# stap --use-server -r ");
    expect(out).toMatch(/begin \/\* <- begin \*\//);
    expect(out).toMatch(/served by h[12]: its log .* "Accepted connection from \[::ffff:10\.78\.\d+\.3\]"/);
    expect(out).toMatch(/h4 compiled the same script through the fleet too \(exit 0/);
    // fleet-wide stop and teardown
    expect(out).toMatch(/2 hosts: 2 ok, 0 failed, 0 unreachable, 0 timed out/);
    expect(out).toContain('stap-server status on h1 and h2 now exits 3');
    expect(out).toContain('no namespace, process or scratch file of the demo is left');
    expect(out).toMatch(/demo: all 11 steps passed in [\d.]+ s/);
    expect(leftovers()).toEqual([]);
    const scratchDir = /inventory for the controller \((\/tmp\/stap-fleet-demo-[^/]+)\/inventory\)/.exec(out)?.[1];
    expect(scratchDir).toBeDefined();
    expect(existsSync(scratchDir!)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(240_000);
  }, 300_000);

  it('fails with a non-zero exit and the reason when a step cannot finish in time, and still tears down', () => {
    const { status, out } = runDemo({ STAP_FLEET_DEMO_TIMEOUT_MS: '6000' }, 120_000);
    expect(status, out).toBe(1);
    expect(out).toMatch(/demo: the tour took longer than 6\.0 s, tearing down/);
    expect(out.trimEnd().split('\n').pop()).toBe('demo: FAILED: the tour took longer than 6.0 s');
    expect(out).toContain('Teardown: stop every daemon, delete the namespaces and the scratch files');
    expect(out).not.toContain('steps passed');
    expect(leftovers()).toEqual([]);
  }, 130_000);

  it('--help explains the tour and exits 0; an unknown argument exits 2', () => {
    const help = spawnSync('npx', ['tsx', 'demo/main.ts', '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: bash scripts\/demo\.sh/);
    const bad = spawnSync('npx', ['tsx', 'demo/main.ts', '--frob'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("demo: unknown argument '--frob'");
  }, 130_000);
});

describe('demo code staging (a clone user stap-server cannot read, e.g. under /root)', () => {
  function projectCopy(parentMode: number): string {
    const parent = mkdtempSync('/tmp/sf-stage-test-');
    scratch.push(parent);
    chmodSync(parent, parentMode);
    const proj = join(parent, 'clone');
    mkdirSync(proj);
    chmodSync(proj, 0o755);
    for (const f of ['dist', 'package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(proj, f), { recursive: true });
    for (const m of productionModules(ROOT)) if (existsSync(join(ROOT, m))) cpSync(join(ROOT, m), join(proj, m), { recursive: true });
    return proj;
  }

  it('productionModules lists runtime dependencies from package-lock.json, not dev ones', () => {
    const mods = productionModules(ROOT);
    expect(mods).toContain('node_modules/commander');
    expect(mods).toContain('node_modules/node-forge');
    expect(mods).not.toContain('node_modules/typescript');
    expect(mods).not.toContain('node_modules/vitest');
    const deps = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    for (const d of deps) expect(mods).toContain(`node_modules/${d}`);
  });

  it('a world-readable clone is used as it is', async () => {
    const proj = projectCopy(0o755);
    const code = await resolveCodeRoot(proj, 'stap-server');
    expect(code).toEqual({ dir: proj, staged: false, reason: '' });
  }, 60_000);

  it('a clone under a 0700 directory is copied to a world-readable place where stap-server can run the daemon', async () => {
    const proj = projectCopy(0o700);
    expect((await readableBy('stap-server', proj)).ok).toBe(false);
    const code = await resolveCodeRoot(proj, 'stap-server');
    scratch.push(code.dir);
    expect(code.staged).toBe(true);
    expect(code.reason).toMatch(/EACCES|denied/i);
    expect(code.dir).toMatch(/^\/var\/tmp\/stap-fleet-demo-code-/);
    expect(await readableBy('stap-server', code.dir)).toEqual({ ok: true, detail: '' });
    expect(existsSync(join(code.dir, 'node_modules/typescript'))).toBe(false);
  }, 60_000);
});

describe('demo sources', () => {
  it('type-check strictly (tsx runs them without checking)', () => {
    const r = spawnSync('npx', ['tsc', '-p', 'demo/tsconfig.json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 130_000);
});
