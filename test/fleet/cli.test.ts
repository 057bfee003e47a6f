/** The real stap-fleet binary: help, usage errors and their exit code. No network: every run uses --no-mdns. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { snapshotDist } from './snapshot.js';

const SNAP = snapshotDist();
const FLEET = SNAP.bin('stap-fleet');
afterAll(() => SNAP.remove());

function run(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('node', [FLEET, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('stap-fleet CLI', () => {
  it('has --help with examples and the exit codes on every command', () => {
    for (const cmd of [[], ['status'], ['start'], ['stop'], ['restart'], ['condrestart'], ['try-restart'], ['force-reload']]) {
      const r = run([...cmd, '--help']);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toContain('Examples:');
      expect(r.stdout).toContain('7  some host\'s key unknown, changed or revoked');
    }
    expect(run(['start', '--help']).stdout).toContain('stap-fleet start \'h[1-10]\' -- -r');
  });
  it('exits 2 on usage errors, naming the problem', () => {
    expect(run(['frobnicate']).code).toBe(2);
    expect(run(['status', '--no-mdns', '--fanout', '0']).code).toBe(2);
    const bad = run(['status', '--no-mdns', 'h[1-']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("stap-fleet: node set 'h[1-': unbalanced '['\n");
    const status = run(['status', '--no-mdns', 'h1', '--', '-r', 'x']);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain("status takes no stap-server options after '--'");
    expect(run(['status', '--no-mdns', 'h1', '-x', 'h1']).stderr).toContain('selects no host');
    const none = run(['start', '--no-mdns', '-i', '/dev/null']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no targets: name hosts');
    const empty = run(['status', '--no-mdns', '-i', '/dev/null', '--json']);
    expect(empty.code).toBe(0);
    expect(JSON.parse(empty.stdout).hosts).toEqual([]);
    expect(empty.stderr).toContain('no hosts');
  });
  it('names file:line of a bad inventory and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-inv-'));
    writeFileSync(join(dir, 'inv'), '[g]\nh1 port=http\n');
    const r = run(['stop', '--no-mdns', '-i', join(dir, 'inv'), '@g']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`stap-fleet: ${join(dir, 'inv')}:2: bad port 'http'\n`);
    writeFileSync(join(dir, 'good'), '[g]\nh1\n');
    const env = run(['stop', '--no-mdns', '@nope'], { STAP_FLEET_INVENTORY: join(dir, 'good') });
    expect(env.stderr).toContain("unknown group '@nope'");
  });
  it('reports an unreachable loopback host with its category, without colour when not a TTY', () => {
    // 127.0.0.1 port 1: refused at once; loopback only (no multicast: --no-mdns).
    const r = run(['status', '--no-mdns', '-p', '1', '--known-hosts', '/dev/null', '--global-known-hosts', '/dev/null', '127.0.0.1']);
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/^127\.0\.0\.1\s+unreachable: 127\.0\.0\.1: cannot connect to 127\.0\.0\.1:1: ECONNREFUSED$/m);
    expect(r.stdout).not.toContain('\x1b[');
    const j = run(['stop', '--no-mdns', '--json', '-p', '1', '127.0.0.1,127.0.0.2']);
    const doc = JSON.parse(j.stdout) as { summary: { unreachable: string[] }; exitCode: number };
    expect(doc.summary.unreachable).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(j.code).toBe(5);
  });
  it('shows progress and colour only on a TTY, and no colour with NO_COLOR', () => {
    // script(1) gives the command a pseudo-terminal; loopback port 1 refuses at once (no multicast: --no-mdns).
    const tty = (cmd: string) => spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8' }).stdout;
    const hosts = `node ${FLEET} status --no-mdns -p 1 --known-hosts /dev/null 127.0.0.1,127.0.0.2`;
    const coloured = tty(`env -u NO_COLOR ${hosts}`);
    expect(coloured).toContain('status: 2/2 done, 2 failed, 0 running');
    expect(coloured).toContain('\x1b[31m');
    const plain = tty(`NO_COLOR=1 ${hosts}`);
    expect(plain).toContain('status: 2/2 done, 2 failed, 0 running');
    expect(plain).not.toMatch(/\x1b\[\d+m/);
    // Not a TTY, or --json: no progress at all.
    expect(run(['status', '--no-mdns', '-p', '1', '127.0.0.1']).stderr).toBe('');
    const json = tty(`node ${FLEET} status --json --no-mdns -p 1 127.0.0.1`);
    expect(json).toContain('"unreachable": 1');
    expect(json).not.toContain('done,');
  });
  it('refuses to browse mDNS from the root network namespace under the test guard', () => {
    const r = run(['status', '--mdns-only'], { STAP_FLEET_FORBID_ROOT_NETNS: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing to send mDNS from the root network namespace');
  });
});
