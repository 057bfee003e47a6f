/** Loading from the file system: which files are read, missing/odd files, bounds, passwd lookups. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StapFleetError } from '../../../src/errors.js';
import {
  CONFIG_LIMITS,
  DEFAULT_GLOBAL,
  listServerConfigFiles,
  loadGlobalConfig,
  loadServerConfigs,
  passwdHomeLookup,
  parseServerConfig,
} from '../../../src/local/config/index.js';
import { expectSyntaxError, fakeDeps } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'cfg-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string | Buffer): string {
  const full = join(dir, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, text);
  return full;
}

function readError(fn: () => unknown): StapFleetError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StapFleetError);
    return err as StapFleetError;
  }
  throw new Error('expected an error');
}

describe('loadGlobalConfig', () => {
  it('missing default file is fine; the -c file is applied after it', () => {
    const c = write('g/c-file', 'LOG_FILE=/srv/log\n');
    expect(loadGlobalConfig([join(dir, 'g/no-such-default'), c])).toEqual({ ...DEFAULT_GLOBAL, LOG_FILE: '/srv/log' });
  });

  it('files apply in order; the later one sees and overrides the earlier values', () => {
    const a = write('g/a', 'STAT_PATH=/srv/stat\nSTAP_USER=alice\n');
    const b = write('g/b', 'CONFIG_PATH=$STAT_PATH/conf.d\nSTAP_USER=\n');
    expect(loadGlobalConfig([a, b])).toEqual({ ...DEFAULT_GLOBAL, STAT_PATH: '/srv/stat', CONFIG_PATH: '/srv/stat/conf.d', STAP_USER: 'alice' });
  });

  it('a missing -c file is SF_CONFIG_READ', () => {
    const err = readError(() => loadGlobalConfig([join(dir, 'g/none1'), join(dir, 'g/none2')]));
    expect(err.code).toBe('SF_CONFIG_READ');
    expect(err.message).toBe(`${join(dir, 'g/none2')}: cannot read: no such file`);
  });

  it('explicit optional flags override the position rule', () => {
    expect(loadGlobalConfig([{ path: join(dir, 'g/none3'), optional: true }, { path: join(dir, 'g/none4'), optional: true }])).toEqual(DEFAULT_GLOBAL);
    expect(readError(() => loadGlobalConfig([{ path: join(dir, 'g/none5') }])).code).toBe('SF_CONFIG_READ');
  });

  it('a directory, a device and a FIFO are refused without reading them', () => {
    mkdirSync(join(dir, 'g/adir'), { recursive: true });
    expect(readError(() => loadGlobalConfig([join(dir, 'g/adir')])).message).toContain('not a regular file');
    symlinkSync('/dev/zero', join(dir, 'g/zero'));
    expect(readError(() => loadGlobalConfig([join(dir, 'g/zero')])).message).toContain('not a regular file');
    execFileSync('mkfifo', [join(dir, 'g/fifo')]);
    expect(readError(() => loadGlobalConfig([join(dir, 'g/fifo')])).message).toContain('not a regular file');
  });

  it('a file over the size bound fails at the line where the bound falls', () => {
    const line = `# ${'x'.repeat(98)}\n`; // 101 bytes
    const count = Math.ceil((CONFIG_LIMITS.maxFileBytes + 1) / line.length);
    const big = write('g/big', line.repeat(count));
    const expectedLine = Math.floor(CONFIG_LIMITS.maxFileBytes / line.length) + 1;
    expectSyntaxError(() => loadGlobalConfig([big]), big, expectedLine, `larger than ${CONFIG_LIMITS.maxFileBytes} bytes`);
  });

  it('a file of exactly the bound is accepted', () => {
    const head = 'STAP_USER=alice\n';
    const exact = write('g/exact', head + '#'.repeat(CONFIG_LIMITS.maxFileBytes - head.length));
    expect(readFileSync(exact).length).toBe(CONFIG_LIMITS.maxFileBytes);
    expect(() => loadGlobalConfig([exact])).toThrow(/line is longer/); // one 65 KiB comment line
    const body = head + `${'#'.repeat(1023)}\n`.repeat(63);
    const lines = write('g/exact-lines', body + '#'.repeat(CONFIG_LIMITS.maxFileBytes - body.length));
    expect(readFileSync(lines).length).toBe(CONFIG_LIMITS.maxFileBytes);
    expect(loadGlobalConfig([lines]).STAP_USER).toBe('alice');
  });

  it('injected readFile is used', () => {
    const seen: string[] = [];
    const g = loadGlobalConfig(['/etc/fake-global'], DEFAULT_GLOBAL, {
      ...fakeDeps,
      readFile: (p) => {
        seen.push(p);
        return Buffer.from('LOG_FILE=~alice/log\n');
      },
    });
    expect(seen).toEqual(['/etc/fake-global']);
    expect(g.LOG_FILE).toBe('/home/alice/log');
  });
});

describe('loadServerConfigs', () => {
  it('missing directory: no configured servers', () => {
    expect(loadServerConfigs(join(dir, 'no-such-conf.d'), {})).toEqual([]);
  });

  it('a file instead of a directory is SF_CONFIG_READ', () => {
    const f = write('s/notadir', '');
    expect(readError(() => loadServerConfigs(f, {})).code).toBe('SF_CONFIG_READ');
  });

  it('reads *.conf regular files in code-point order, skipping dot-files, other names and directories', () => {
    const d = join(dir, 'conf.d');
    write('conf.d/b.conf', 'NICKNAME=b\n');
    write('conf.d/A.conf', 'NICKNAME=A\n');
    write('conf.d/a.conf', 'NICKNAME=a\nLOG=$LOG_FILE.a\n');
    write('conf.d/.hidden.conf', 'garbage here\n');
    write('conf.d/notes.txt', 'garbage here\n');
    write('conf.d/c.conf.bak', 'garbage here\n');
    mkdirSync(join(d, 'dir.conf'));
    symlinkSync(join(d, 'missing-target'), join(d, 'dangling.conf'));
    symlinkSync(join(d, 'b.conf'), join(d, 'link.conf'));
    expect(listServerConfigFiles(d).map((p) => p.slice(d.length + 1))).toEqual(['A.conf', 'a.conf', 'b.conf', 'link.conf']);
    const configs = loadServerConfigs(d, { LOG_FILE: '/var/log/x' });
    expect(configs.map((c) => [c.file, c.NICKNAME])).toEqual([
      [join(d, 'A.conf'), 'A'],
      [join(d, 'a.conf'), 'a'],
      [join(d, 'b.conf'), 'b'],
      [join(d, 'link.conf'), 'b'],
    ]);
    expect(configs[1]!.LOG).toBe('/var/log/x.a');
  });

  it('a bad file anywhere names itself and its line', () => {
    const d = join(dir, 'conf2.d');
    write('conf2.d/1.conf', 'NICKNAME=one\n');
    write('conf2.d/2.conf', '# ok\nARCH=i386\nNICKNAME=`id`\n');
    expectSyntaxError(() => loadServerConfigs(d, {}), join(d, '2.conf'), 3, 'backtick');
  });

  it('too many files is SF_CONFIG_READ', () => {
    const d = join(dir, 'many.d');
    mkdirSync(d);
    for (let i = 0; i <= CONFIG_LIMITS.maxConfFiles; i++) writeFileSync(join(d, `${i}.conf`), '');
    expect(readdirSync(d).length).toBe(CONFIG_LIMITS.maxConfFiles + 1);
    expect(readError(() => loadServerConfigs(d, {})).message).toContain(`more than ${CONFIG_LIMITS.maxConfFiles}`);
  });
});

describe('passwd lookup (default ~user)', () => {
  it('reads home directories from a passwd file', () => {
    const p = write('passwd', 'root:x:0:0:root:/root:/bin/bash\nstap-server:x:120:130::/var/lib/stap-server:/usr/sbin/nologin\nbroken line\nnohome:x:5:5:::/bin/sh\n');
    const homeOf = passwdHomeLookup(p);
    expect(homeOf('root')).toBe('/root');
    expect(homeOf('stap-server')).toBe('/var/lib/stap-server');
    expect(homeOf('nohome')).toBeUndefined();
    expect(homeOf('nobody-here')).toBeUndefined();
    expect(homeOf('broken line')).toBeUndefined();
    expect(passwdHomeLookup(join(dir, 'no-passwd'))('root')).toBeUndefined();
  });

  it('the default lookup uses the real /etc/passwd', () => {
    expect(parseServerConfig('SSL=~root/ssl', 'x.conf', {}).SSL).toBe('/root/ssl');
  });

  it('bare ~ uses homeDir(), which can be faked', () => {
    expect(parseServerConfig('LOG=~/l', 'x.conf', {}, { homeOf: () => undefined, homeDir: () => '/h' }).LOG).toBe('/h/l');
    expectSyntaxError(() => parseServerConfig('LOG=~/l', 'x.conf', {}, { homeOf: () => undefined, homeDir: () => undefined }), 'x.conf', 1, 'home directory is not known');
  });
});
