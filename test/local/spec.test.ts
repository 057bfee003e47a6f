import { describe, expect, it } from 'vitest';
import { describeSpec, emptySpec, optinfo, sameServer, serverdArgs, withDefaults, type ServerSpec } from '../../src/local/spec.js';

const spec = (o: Partial<ServerSpec>): ServerSpec => ({ ...emptySpec(), ...o });
const D = { arch: 'x86_64', release: '6.1', user: 'stap-server', log: '/var/log/stap-server/log' };

describe('ServerSpec', () => {
  it('defaults fill arch, release, user and log only', () => {
    expect(withDefaults(spec({ port: '5' }), D)).toEqual(spec({ arch: 'x86_64', releases: ['6.1'], user: 'stap-server', log: D.log, port: '5' }));
    expect(withDefaults(spec({ arch: 'ppc', releases: ['a', 'b'] }), D).releases).toEqual(['a', 'b']);
  });

  it('sameServer compares whole arrays (4.8 compares the first element only)', () => {
    const a = withDefaults(spec({ include: ['/a', '/b'] }), D);
    expect(sameServer(a, { ...a, include: ['/a', '/b'] })).toBe(true);
    expect(sameServer(a, { ...a, include: ['/a'] })).toBe(false);
    expect(sameServer(a, { ...a, include: ['/a', '/c'] })).toBe(false);
    expect(sameServer({ ...a, releases: ['x', 'y'] }, { ...a, releases: ['x'] })).toBe(false);
  });

  it('a wanted nickname must match; no nickname matches any', () => {
    const a = withDefaults(spec({}), D);
    expect(sameServer({ ...a, nickname: 'n' }, { ...a, nickname: 'm' })).toBe(false);
    expect(sameServer({ ...a, nickname: 'n' }, { ...a, nickname: 'n' })).toBe(true);
    expect(sameServer(a, { ...a, nickname: 'm' })).toBe(true);
    expect(sameServer({ ...a, port: '' }, { ...a, port: '7' })).toBe(false);
  });

  it('describeSpec follows the script order', () => {
    const s = spec({ arch: 'x', releases: ['r1', 'r2'], runtime: '/R', define: ['D'], include: ['/I'], build: ['B'], user: 'u', nickname: 'n', log: '/l', port: '1', ssl: '/s', maxThreads: '2', maxRequestSize: '3', maxCompressedRequest: '4' });
    expect(describeSpec(s)).toBe('-a "x" -r "r1" -r "r2" -R "/R" -D "D" -I "/I" -B "B" -u "u" -n "n" --log "/l" --port "1" --ssl "/s" --max-threads "2" --max-request-size "3" --max-compressed-request "4"');
    expect(describeSpec({ ...s, nickname: '' }, '99')).toContain('-n "99"');
    expect(optinfo(s)).toBe('-R/R -BB -DD -I/I');
    expect(serverdArgs(s, '/ssl')).toEqual(['-a', 'x', '-r', 'r1', '-r', 'r2', '-B', 'B', '-I', '/I', '-D', 'D', '-R', '/R', '--log', '/l', '--ssl', '/ssl', '--port', '1', '--max-threads', '2', '--max-request-size', '3', '--max-compressed-request', '4']);
  });
});
