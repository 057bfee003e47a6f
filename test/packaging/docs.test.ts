/**
 * Help that answers: every option of the seed's section 2.3 and every configuration variable of its section 4
 * appears in README.md and in `stap-server --help`; the README opens with exactly the two commands; every binary
 * has --help with examples. (The lists are embedded: the seed lives outside the repository.)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
// Seed (README.stap-server.txt) section 2.3, "Options".
const SEED_OPTIONS = ['-c', '-a', '-r', '-u', '-I', '-R', '-B', '-D', '-i', '-n', '-p', '--log', '--port', '--ssl'];
// Seed section 4: 4.1 global file, 4.2 per-server files.
const SEED_GLOBAL_VARIABLES = ['CONFIG_PATH', 'STAT_PATH', 'LOG_FILE', 'STAP_USER'];
const SEED_SERVER_VARIABLES = ['ARCH', 'RELEASE', 'BUILD', 'INCLUDE', 'RUNTIME', 'DEFINE', 'USER', 'NICKNAME', 'LOG', 'PORT', 'SSL'];
const SEED_VARIABLES = [...SEED_GLOBAL_VARIABLES, ...SEED_SERVER_VARIABLES];
const ACTIONS = ['start', 'stop', 'restart', 'condrestart', 'try-restart', 'force-reload', 'status'];

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

function help(bin: string, args: string[] = ['--help']): string {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/bin', `${bin}.js`), ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
  expect(r.status, `${bin} ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const escape = (s: string) => s.replace(/[-/\\^$*+?.()|[\]{}]/g, '\\$&');
/** An option as a word of its own: `-c FILE`, `-c,`, `--log=x`, `(-r)`, not inside `-cx` or `--clients`. */
const optionWord = (o: string) => new RegExp(`(^|[\\s\`(|,\\[])${escape(o)}(?=$|[\\s\`=,<)|\\]])`, 'm');
/** A variable in code style in the README (`USER`, `USER=`), or as a word in help text. */
const codeVariable = (v: string) => new RegExp(`\`${v}(\\+?=[^\`]*)?\``);
const wordVariable = (v: string) => new RegExp(`(^|[^A-Za-z0-9_])${v}(?![A-Za-z0-9_])`, 'm');

describe('README.md', () => {
  it('opens with exactly the two commands, as root on Debian 12', () => {
    const firstBlock = /```(?:sh|bash|console)?\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const commands = firstBlock
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean);
    expect(commands).toEqual(['bash scripts/demo.sh', 'npm test']);
    const beforeBlock = readme.slice(0, readme.indexOf('```'));
    expect(beforeBlock + firstBlock).toMatch(/root/);
    expect(beforeBlock + firstBlock).toMatch(/Debian 12/);
  });

  it.each(SEED_OPTIONS)('documents stap-server option %s', (o) => {
    expect(readme).toMatch(optionWord(o));
  });

  it.each(SEED_VARIABLES)('documents configuration variable %s', (v) => {
    expect(readme).toMatch(codeVariable(v));
  });

  it.each(ACTIONS)('documents the action %s', (a) => {
    expect(readme).toMatch(new RegExp(`\`${a}\``));
  });

  it('covers install, the four binaries, exit codes, JSON, the design picture, differences and benchmarks', () => {
    for (const needle of ['npm pack', 'scripts/install.sh', 'stap-server.service', 'stap-agent.service', '/etc/sysconfig/stap-server', 'conf.d']) {
      expect(readme, needle).toContain(needle);
    }
    for (const bin of ['stap-server', 'stap-serverd', 'stap-agent', 'stap-fleet']) expect(readme).toMatch(new RegExp(`^#+ .*\`?${bin}\`?`, 'm'));
    expect(readme).toMatch(/exit code/i);
    expect(readme).toContain('--json');
    expect(readme).toMatch(/Avahi/);
    expect(readme).toMatch(/controller/i);
    expect(readme).toMatch(/Differences from SystemTap/i);
    expect(readme).toContain('docs/BENCHMARKS.md');
  });

  it('links only to documentation files that exist', () => {
    const links = [...readme.matchAll(/\]\((docs\/[^)#\s]+)/g)].map((m) => m[1]!);
    for (const l of links) expect(() => readFileSync(join(ROOT, l)), l).not.toThrow();
  });
});

describe('stap-server --help', () => {
  const text = help('stap-server');

  it.each(SEED_OPTIONS)('lists option %s', (o) => {
    expect(text).toMatch(optionWord(o));
  });

  it.each(SEED_VARIABLES)('names configuration variable %s', (v) => {
    expect(text).toMatch(wordVariable(v));
  });

  it('names every action and the exit codes', () => {
    for (const a of ACTIONS) expect(text).toContain(a);
    // A section of its own (not the description's "LSB exit codes"), down to 6 (not configured).
    expect(text).toMatch(/^Exit codes:[\s\S]*\b6\b/m);
  });
});

describe('--help of every binary', () => {
  it.each([
    ['stap-server', []],
    ['stap-serverd', []],
    ['stap-agent', []],
    ['stap-fleet', []],
    ['stap-fleet', ['status', '--help']],
    ['stap-fleet', ['trust', '--help']],
  ] as [string, string[]][])('%s %j exits 0 with a usage line', (bin, sub) => {
    const out = help(bin, sub.length ? sub : ['--help']);
    expect(out).toMatch(/^Usage: /m);
  });
});

describe('help with examples', () => {
  it.each(['stap-server', 'stap-serverd', 'stap-agent', 'stap-fleet'])('%s --help shows examples', (bin) => {
    expect(help(bin)).toMatch(/^Examples?:\n\s+\S/m);
  });
});
