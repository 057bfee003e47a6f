import { describe, it, expect } from 'vitest';
import { filterLocale, stapEnvironment, withHugePages } from '../../../src/local/serverd/locale.js';
import { buildStapArgs, requestedPrivilege, needsSignature } from '../../../src/local/serverd/command.js';
import { compareVersions, hashForClientVersion } from '../../../src/local/serverd/version.js';
import { parseServerdArgs, DEFAULT_MAX_COMPRESSED_REQUEST, DEFAULT_MAX_REQUEST_SIZE } from '../../../src/local/serverd/options.js';
import { scrubText } from '../../../src/local/serverd/response.js';
import { ctime } from '../../../src/local/serverd/log.js';

describe('locale filtering (stap-serverd get_stap_locale)', () => {
  it('accepts listed variables with safe values, later lines win', () => {
    const r = filterLocale('LANG=en_US.UTF-8\nLC_ALL=fr_FR@euro\nLANG=C\n');
    expect(r.accepted).toEqual({ LANG: 'C', LC_ALL: 'fr_FR@euro' });
    expect(r.messages).toEqual([]);
  });
  it('reports each refused line with stap-serverd\'s message', () => {
    const r = filterLocale('LANG=a;b\nLANG=x\ny\nFOO=bar\nnoequals\nLC_TIME=ok_.-@=\n');
    expect(r.messages).toEqual([
      "Localization value 'a;b' contains illegal characters",
      "Localization key=value line 'y' cannot be parsed",
      "Localization key 'FOO' not found in global list",
      "Localization key=value line 'noequals' cannot be parsed",
    ]);
    expect(r.accepted).toEqual({ LANG: 'x', LC_TIME: 'ok_.-@=' });
  });
  it('ignores a last line without newline, as getline()+good() does', () => {
    expect(filterLocale('LANG=C\nLC_ALL=C').accepted).toEqual({ LANG: 'C' });
  });
  it('overrides the server environment only with accepted variables', () => {
    expect(stapEnvironment({ PATH: '/bin', LANG: 'de' }, { LANG: 'C' })).toEqual({ PATH: '/bin', LANG: 'C' });
  });
});

describe('huge pages for stap (GLIBC_TUNABLES)', () => {
  it('adds glibc.malloc.hugetlb=1, appends to other tunables, and keeps an admin-set hugetlb value', () => {
    expect(withHugePages({ PATH: '/bin' }).GLIBC_TUNABLES).toBe('glibc.malloc.hugetlb=1');
    expect(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
    expect(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES).toBe('glibc.malloc.hugetlb=0');
    expect(withHugePages({ GLIBC_TUNABLES: 'x=1:glibc.malloc.hugetlb=2' }).GLIBC_TUNABLES).toBe('x=1:glibc.malloc.hugetlb=2');
  });
});

describe('stap command line', () => {
  it('is built like stap-serverd', () => {
    expect(buildStapArgs(['-a', 'x86_64', '-Bfoo', '-I/t'], '6.1.0-1-amd64', '/r/stap000000', ['script/-', '-p2', '--', 'a b'])).toEqual([
      '-r6.1.0-1-amd64', '-a', 'x86_64', '-Bfoo', '-I/t', '--tmpdir=/r/stap000000', '--client-options', 'script/-', '-p2', '--', 'a b',
    ]);
  });
  it('finds the first privilege option the way stap\'s getopt_long does', () => {
    expect(requestedPrivilege(['--client-options', '-p4', '--privilege=stapusr', '-e', 'x'])).toBe('stapusr');
    expect(requestedPrivilege(['--privilege', 'stapsys'])).toBe('stapsys');
    expect(requestedPrivilege(['--unprivileged'])).toBe('unprivileged');
    expect(requestedPrivilege(['--unpriv'])).toBe('unprivileged'); // unambiguous prefix
    expect(requestedPrivilege(['-e', '--privilege=stapusr'])).toBe('highest'); // the script text, not an option
    expect(requestedPrivilege(['-p4', '--', '--privilege=stapusr'])).toBe('highest'); // a script argument
    expect(requestedPrivilege(['--privilege=bogus'])).toBe('highest');
    expect(requestedPrivilege(['-vp4'])).toBe('highest');
    expect(needsSignature('stapusr') && needsSignature('stapsys') && needsSignature('unprivileged')).toBe(true);
    expect(needsSignature('stapdev') || needsSignature('highest')).toBe(false);
  });
});

describe('versions', () => {
  it('compare numerically by component, shorter is lower', () => {
    expect(compareVersions('4.8', '4.10')).toBe(-1);
    expect(compareVersions('1.6', '1.6')).toBe(0);
    expect(compareVersions('4', '4.0')).toBe(-1);
    expect(compareVersions('5.5', '4.8')).toBe(1);
    expect(compareVersions('x.y', '0.0')).toBe(0);
  });
  it('choose SHA-1 signatures for 4.8 clients and SHA-256 from 5.5', () => {
    expect(hashForClientVersion('4.8')).toBe('sha1');
    expect(hashForClientVersion('5.4')).toBe('sha1');
    expect(hashForClientVersion('5.5')).toBe('sha256');
    expect(hashForClientVersion('5.10')).toBe('sha256');
  });
});

describe('stap-serverd options', () => {
  const parse = (argv: string[], env: NodeJS.ProcessEnv = { HOME: '/home/u' }) => {
    const r = parseServerdArgs(argv, env);
    if (r.kind !== 'options') throw new Error('no options');
    return r.options;
  };
  it('accept both --opt=v and --opt v, -rREL and -r REL, repeatable options in order', () => {
    const o = parse(['-rA', '-r', 'B', '--port=7777', '--ssl', '/s', '--log=/l', '--max-threads', '4', '-B', 'x', '-I/i', '-a', 'arm64', '-Dk=v', '-R', '/rt', '-k']);
    expect(o.releases).toEqual(['A', 'B']);
    expect(o.port).toBe(7777);
    expect(o.sslDir).toBe('/s');
    expect(o.log).toBe('/l');
    expect(o.maxThreads).toBe(4);
    expect(o.keepTemp).toBe(true);
    expect(o.stapOptions).toEqual(['-Bx', '-I/i', '-a', 'arm64', '-Dk=v', '-R/rt']);
  });
  it('default the ssl dir like stap-serverd and the limits to documented sane values', () => {
    expect(parse([]).sslDir).toBe('/home/u/.systemtap/ssl/server');
    expect(parse([], { SYSTEMTAP_DIR: '/sd', HOME: '/h' }).sslDir).toBe('/sd/ssl/server');
    expect(parse([]).maxCompressedRequest).toBe(DEFAULT_MAX_COMPRESSED_REQUEST);
    expect(parse([]).maxRequestSize).toBe(DEFAULT_MAX_REQUEST_SIZE);
    expect(parse([]).port).toBe(0);
    expect(parse([], { SYSTEMTAP_STAP: '/opt/stap' }).stap).toBe('/opt/stap');
    expect(parse(['--stap', '/x/stap'], { SYSTEMTAP_STAP: '/opt/stap' }).stap).toBe('/x/stap');
    expect(parse([], {}).stap).toBe('/usr/bin/stap');
  });
  it('reject bad numbers with stap-serverd\'s message', () => {
    expect(() => parse(['--port=abc'])).toThrow("cannot parse number '--port=abc'");
    expect(() => parse(['--port', '70000'])).toThrow("cannot parse number '--port=70000'");
    expect(() => parse(['--max-threads=-1'])).toThrow(/max-threads/);
    expect(() => parse(['--bogus'])).toThrow(/unknown option/);
    expect(() => parse(['extra'])).toThrow(/too many arguments|unexpected/i);
  });
});

describe('path scrubbing and log time', () => {
  it('replaces the home dir, then the response dir, never "/"', () => {
    expect(scrubText('/var/lib/stap-server/x /tmp/s.1/response/y /', ['/var/lib/stap-server', '/tmp/s.1/response'])).toBe('<server>/x <server>/y /');
    expect(scrubText('/a/b', ['/', undefined])).toBe('/a/b');
  });
  it('formats time like C ctime() without the newline', () => {
    expect(ctime(new Date(2026, 10, 5, 4, 3, 9))).toBe('Thu Nov  5 04:03:09 2026');
  });
});
