import { describe, expect, it } from 'vitest';
import { exitCodeForCategories, FLEET_EXIT } from '../../src/fleet/exit-codes.js';
import { foldOutputs } from '../../src/fleet/output/fold.js';
import { renderAction, renderSummary } from '../../src/fleet/output/render.js';
import { makeStyle } from '../../src/fleet/output/style.js';
import { remoteCommandLine, shQuote } from '../../src/fleet/commands/remote.js';
import { summariseCategories } from '../../src/fleet/commands/action.js';
import type { FleetActionDocument } from '../../src/fleet/commands/action.js';

const plain = makeStyle({ isTTY: false });

describe('exit codes', () => {
  it('is 0 only when every host is ok', () => {
    expect(exitCodeForCategories(['ok', 'ok'])).toBe(0);
    expect(exitCodeForCategories([])).toBe(0);
  });
  it('follows the documented precedence hostkey > auth > unreachable > timeout > failed', () => {
    expect(exitCodeForCategories(['ok', 'failed'])).toBe(FLEET_EXIT.failed);
    expect(exitCodeForCategories(['failed', 'timeout'])).toBe(FLEET_EXIT.timeout);
    expect(exitCodeForCategories(['timeout', 'unreachable', 'failed'])).toBe(FLEET_EXIT.unreachable);
    expect(exitCodeForCategories(['unreachable', 'auth'])).toBe(FLEET_EXIT.auth);
    expect(exitCodeForCategories(['auth', 'hostkey', 'ok'])).toBe(FLEET_EXIT.hostkey);
    const codes = Object.values(FLEET_EXIT);
    expect(new Set(codes).size).toBe(codes.length);
    expect(FLEET_EXIT.usage).toBe(2);
  });
});

describe('folding', () => {
  it('folds identical output of several hosts into one block, odd ones apart', () => {
    const blocks = foldOutputs([
      { host: 'h1', category: 'ok', exitCode: 0, output: 'Starting server' },
      { host: 'h3', category: 'ok', exitCode: 0, output: 'Starting server' },
      { host: 'h2', category: 'ok', exitCode: 0, output: 'Starting server' },
      { host: 'h4', category: 'failed', exitCode: 1, output: 'Starting server' },
      { host: 'h5', category: 'unreachable', exitCode: null, output: 'h5: ECONNREFUSED' },
    ]);
    expect(blocks.map((b) => [b.nodeset, b.category])).toEqual([
      ['h[1-3]', 'ok'],
      ['h4', 'failed'],
      ['h5', 'unreachable'],
    ]);
  });
  it('renders blocks and a summary naming the hosts per category', () => {
    const hosts = [
      { name: 'h1', category: 'ok' as const, out: 'done' },
      { name: 'h2', category: 'ok' as const, out: 'done' },
      { name: 'h3', category: 'timeout' as const, out: '' },
    ].map((h) => ({ name: h.name, hostname: h.name, category: h.category, exitCode: h.category === 'ok' ? 0 : null, stdout: h.out, stderr: '', timedOut: h.category === 'timeout', durationMs: 1, shortMessage: h.category === 'ok' ? undefined : 'h3: command timed out after 100 ms' }));
    const doc: FleetActionDocument = { command: 'start', remoteCommand: 'stap-server start', hosts, summary: summariseCategories(hosts), exitCode: 4 };
    const text = renderAction(doc, plain);
    expect(text).toContain('---------------- h[1-2] (2) ok ----------------\ndone\n');
    expect(text).toContain('---------------- h3 (1) timed out ----------------\nh3: command timed out after 100 ms\n');
    expect(text.trimEnd().split('\n').pop()).toBe('3 hosts: 2 ok, 0 failed, 0 unreachable, 1 timed out (h3)');
    expect(renderSummary(summariseCategories([{ name: 'a1', category: 'hostkey' }]), plain)).toBe('1 host: 0 ok, 0 failed, 0 unreachable, 0 timed out, 1 host key refused (a1)\n');
  });
  it('colours only on a TTY and never with NO_COLOR', () => {
    expect(makeStyle({ isTTY: true }, {}).red('x')).toBe('\x1b[31mx\x1b[0m');
    expect(makeStyle({ isTTY: true }, { NO_COLOR: '1' }).red('x')).toBe('x');
    expect(makeStyle({ isTTY: false }, {}).red('x')).toBe('x');
  });
});

describe('remote command line', () => {
  it('quotes arguments for the remote shell', () => {
    expect(shQuote('-r')).toBe('-r');
    expect(shQuote("a b'c")).toBe(`'a b'\\''c'`);
    expect(remoteCommandLine('node /x/stap-server.js', ['start', '-r', '6.1.0-56-amd64', '-D', 'X=a b'])).toBe(
      "node /x/stap-server.js start -r 6.1.0-56-amd64 -D 'X=a b'",
    );
  });
});
