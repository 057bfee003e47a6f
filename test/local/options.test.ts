import { describe, expect, it } from 'vitest';
import { accumulateSpecs, parseServiceArgs, type SpecLookups } from '../../src/local/options.js';
import { emptySpec, type ServerSpec } from '../../src/local/spec.js';
import { StapFleetError } from '../../src/errors.js';

const spec = (o: Partial<ServerSpec>): ServerSpec => ({ ...emptySpec(), ...o });

function lookups(o: Partial<SpecLookups> = {}): SpecLookups {
  return {
    runningByNickname: () => undefined,
    configuredByNickname: () => undefined,
    runningByPid: () => undefined,
    installedReleases: () => ['5.0-a', '5.0-b'],
    checkBuildTree: (p) => {
      if (!p.includes('good')) throw new StapFleetError('SF_BUILD_TREE', { file: `${p}/include/config/kernel.release` });
    },
    ...o,
  };
}

const specsOf = (argv: string[], l = lookups(), startLike = true) => accumulateSpecs(parseServiceArgs(argv), l, startLike).specs;

describe('parseServiceArgs', () => {
  it('keeps the order of interleaved options and the lists apart', () => {
    const p = parseServiceArgs(['-r', 'A', '--port', '1', '-n', 'x', '--log=/l', '-IA', '-c', 'f1', '-c', 'f2', '-k', '--json']);
    expect(p.ops).toEqual([
      { kind: 'add', field: 'releases', value: 'A' },
      { kind: 'nickname', name: 'x' },
      { kind: 'add', field: 'include', value: 'A' },
    ]);
    expect(p.lists.port).toEqual(['1']);
    expect(p.lists.log).toEqual(['/l']);
    expect(p.configFile).toBe('f2');
    expect(p.json).toBe(true);
    expect(p.ignored).toEqual(['-k']);
  });

  it.each([
    [['-x']], [['-r']], [['--port', 'abc']], [['--port', '70000']], [['-p', '12a']], [['stray']], [['--log']], [['-r', 'a\nARCH=evil']], [['-ix']],
  ])('rejects %j as usage', (argv) => {
    expect(() => parseServiceArgs(argv)).toThrow(StapFleetError);
    try {
      parseServiceArgs(argv);
    } catch (e) {
      expect((e as StapFleetError).category).toBe('usage');
    }
  });
});

describe('accumulateSpecs', () => {
  it('no server options: no specs (the action decides: conf.d, default, or all running)', () => {
    expect(specsOf([])).toEqual([]);
    expect(specsOf(['--port', '5'])).toEqual([]);
  });

  it('plain options describe one server; -r appends releases; -D -I -B accumulate; -a -R -u override', () => {
    expect(specsOf(['-a', 'x', '-a', 'y', '-r', 'A', '-r', 'B', '-D', 'd1', '-D', 'd2', '-u', 'u1', '-u', 'u2'])).toEqual([
      spec({ arch: 'y', releases: ['A', 'B'], define: ['d1', 'd2'], user: 'u2' }),
    ]);
  });

  it('-i: one server per installed release, earlier -I -u apply, earlier -a is ignored; later options refine them', () => {
    expect(specsOf(['-a', 'ppc', '-I', '/t', '-u', 'u', '-i', '-D', 'X'])).toEqual([
      spec({ releases: ['5.0-a'], include: ['/t'], user: 'u', define: ['X'] }),
      spec({ releases: ['5.0-b'], include: ['/t'], user: 'u', define: ['X'] }),
    ]);
  });

  it('-n: running server first, then conf.d, else a new server (start-like) or an error', () => {
    const running = spec({ releases: ['R'], port: '7' });
    const configured = spec({ releases: ['C'], nickname: 'c' });
    const l = lookups({
      runningByNickname: (n) => (n === 'r' ? running : undefined),
      configuredByNickname: (n) => (n === 'c' || n === 'r' ? configured : undefined),
    });
    expect(specsOf(['-n', 'r'], l)).toEqual([{ ...running, nickname: 'r' }]);
    expect(specsOf(['-n', 'c'], l)).toEqual([configured]);
    expect(specsOf(['-r', 'Z', '-n', 'new'], l)).toEqual([spec({ releases: ['Z'], nickname: 'new' })]);
    expect(() => specsOf(['-n', 'new'], l, false)).toThrow("No configuration found for the nickname 'new'");
  });

  it('-p: the running server with that pid, else an error', () => {
    const running = spec({ releases: ['R'], nickname: '' });
    const l = lookups({ runningByPid: (p) => (p === 42 ? running : undefined) });
    expect(specsOf(['-p', '42'], l)).toEqual([running]);
    expect(() => specsOf(['-p', '4'], l)).toThrow('No stap-server running as pid 4');
  });

  it('--log/--port/--ssl/--max-* apply in turn; past the end a server keeps its own value', () => {
    const out = specsOf(['-n', 'a', '-n', 'b', '-n', 'c', '--port', '1', '--log', '/l1', '--port', '2', '--ssl', '/s', '--max-threads', '4']);
    expect(out.map((s) => [s.nickname, s.port, s.log, s.ssl, s.maxThreads])).toEqual([
      ['a', '1', '/l1', '/s', '4'],
      ['b', '2', '', '', ''],
      ['c', '', '', '', ''],
    ]);
  });

  it('-r /buildtree is checked (4.8 checks the 2nd character, so never)', () => {
    expect(specsOf(['-r', '/kernels/good/build'])).toEqual([spec({ releases: ['/kernels/good/build'] })]);
    expect(() => specsOf(['-r', '/kernels/bad/build'])).toThrow('Missing /kernels/bad/build/include/config/kernel.release');
    expect(specsOf(['-r', 'x/not-absolute'])).toEqual([spec({ releases: ['x/not-absolute'] })]);
  });
});
