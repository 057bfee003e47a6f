import { describe, expect, it } from 'vitest';
import { HostWorkError, runOnHosts } from '../../src/fleet/runner.js';
import { ConnectError } from '../../src/fleet/transport/types.js';
import type { Connection, HostTarget, RemoteCommandResult, Transport } from '../../src/fleet/transport/types.js';

/** A scripted transport: the logic under test is the runner's fan-out, retry and categorisation. */
function fakeTransport(script: (t: HostTarget, attempt: number) => 'ok' | ConnectError, delayMs = 5) {
  const attempts = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  let connects = 0;
  const transport: Transport = {
    name: 'fake',
    async connect(target) {
      const n = (attempts.get(target.name) ?? 0) + 1;
      attempts.set(target.name, n);
      connects++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, delayMs));
      const outcome = script(target, n);
      if (outcome !== 'ok') {
        inFlight--;
        throw outcome;
      }
      const conn: Connection = {
        target,
        user: 'root',
        async run(command) {
          return { host: target.name, command, exitCode: 0, stdout: 'x', stderr: '', failed: false, timedOut: false, durationMs: 1, category: 'ok' } as RemoteCommandResult;
        },
        async close() {
          inFlight--;
        },
      };
      return conn;
    },
  };
  return { transport, attempts, stats: () => ({ maxInFlight, connects }) };
}

const targets = (n: number): HostTarget[] => Array.from({ length: n }, (_, i) => ({ name: `h${i + 1}`, hostname: `h${i + 1}`, port: 22, source: 'cli' }));

describe('runner', () => {
  it('bounds the fan-out and keeps result order', async () => {
    const f = fakeTransport(() => 'ok');
    const r = await runOnHosts(targets(20), f.transport, (c) => c.run('true'), { fanout: 4 });
    expect(r.map((x) => x.target.name)).toEqual(targets(20).map((t) => t.name));
    expect(r.every((x) => x.category === 'ok')).toBe(true);
    expect(f.stats().maxInFlight).toBe(4);
  });
  it('reuses one connection for every command of a host', async () => {
    const f = fakeTransport(() => 'ok');
    await runOnHosts(targets(3), f.transport, async (c) => { await c.run('a'); await c.run('b'); return c.run('c'); });
    expect(f.stats().connects).toBe(3);
  });
  it('retries only connections dropped before authentication', async () => {
    const f = fakeTransport((t, n) =>
      t.name === 'h1' && n < 3 ? new ConnectError('unreachable', 'dropped', { droppedBeforeAuth: true })
        : t.name === 'h2' ? new ConnectError('unreachable', 'h2: ECONNREFUSED')
          : t.name === 'h3' ? new ConnectError('auth', 'h3: authentication refused')
            : 'ok');
    const r = await runOnHosts(targets(4), f.transport, (c) => c.run('true'), { retryBaseMs: 5, connectTimeoutMs: 5000 });
    expect(r.map((x) => x.category)).toEqual(['ok', 'unreachable', 'auth', 'ok']);
    expect(f.attempts.get('h1')).toBe(3);
    expect(f.attempts.get('h2')).toBe(1);
    expect(f.attempts.get('h3')).toBe(1);
    expect(r[1]!.shortMessage).toBe('h2: ECONNREFUSED');
  });
  it('gives up retrying after the attempts allowed', async () => {
    const f = fakeTransport(() => new ConnectError('unreachable', 'dropped', { droppedBeforeAuth: true }));
    const r = await runOnHosts(targets(1), f.transport, (c) => c.run('true'), { retryBaseMs: 1, maxConnectAttempts: 3 });
    expect(r[0]!.category).toBe('unreachable');
    expect(f.attempts.get('h1')).toBe(3);
  });
  it('takes a category from the work value or a HostWorkError, and reports progress', async () => {
    const f = fakeTransport(() => 'ok');
    const seen: number[] = [];
    const r = await runOnHosts(targets(3), f.transport, async (c, t) => {
      if (t.name === 'h2') throw new HostWorkError('timeout', 'h2: slow');
      const res = await c.run('x');
      return t.name === 'h3' ? { ...res, category: 'failed' as const, shortMessage: 'h3: exit 1' } : res;
    }, { onProgress: (p) => seen.push(p.done) });
    expect(r.map((x) => [x.category, x.shortMessage])).toEqual([['ok', undefined], ['timeout', 'h2: slow'], ['failed', 'h3: exit 1']]);
    expect(seen.at(-1)).toBe(3);
  });
});
