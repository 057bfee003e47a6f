/**
 * Differential test: for every accepted form, the parser's values equal what real bash assigns when
 * it sources the same text (run here in the test, on harmless input only). Known, documented
 * differences (X=v resetting a multi-element array, empty array elements dropped, '' = default)
 * are normalised or avoided.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseServerConfig, SERVER_SCHEMA, SERVER_VARIABLES, type ServerConfig } from '../../../src/local/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'cfg-bash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Values = Record<string, string[]>;

const ARRAY_WORD_ASSIGNMENT = new RegExp(`^([ \\t]*(?:export[ \\t]+)?)(${SERVER_VARIABLES.filter((n) => SERVER_SCHEMA[n].kind === 'array').join('|')})(\\+?)=(?!\\()(.*)$`);

/**
 * SystemTap (and we) give \`ARR=word\` and \`ARR+=word\` element semantics (reset to / append one
 * element); bash would replace or string-append element 0. For bash, spell them as what they mean:
 * the word read as an ordinary assignment, then stored as one element.
 */
function toBashArraySemantics(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const m = ARRAY_WORD_ASSIGNMENT.exec(line);
      return m ? `${m[1]}__word=${m[4]}\n${m[2]}${m[3]}=("$__word")` : line;
    })
    .join('\n');
}

function bashValues(text: string, vars: Record<string, string>): Values {
  const file = join(dir, 'case.conf');
  writeFileSync(file, toBashArraySemantics(text));
  // Our model: the array variables are arrays from the start (as after \`declare -a\`), so X+=v appends
  // an element; in bash without the declaration, INCLUDE=/a; INCLUDE+=/b would concatenate strings.
  const arrays = SERVER_VARIABLES.filter((n) => SERVER_SCHEMA[n].kind === 'array');
  const script = `set -u
declare -a ${arrays.map((n) => `${n}=()`).join(' ')}
source "$1" || exit 99
for v in ${SERVER_VARIABLES.join(' ')}; do
  if declare -p "$v" >/dev/null 2>&1; then
    ref="$v[@]"; vals=("\${!ref}")
    printf '%s\\0%s\\0' "$v" "\${#vals[@]}"
    [ "\${#vals[@]}" -eq 0 ] || printf '%s\\0' "\${vals[@]}"
  fi
done`;
  const out = execFileSync('bash', ['--norc', '--noprofile', '-c', script, 'bash', file], {
    env: { PATH: '/usr/bin:/bin', HOME: '/root', ...vars },
    encoding: 'utf8',
    timeout: 10_000,
  });
  const fields = out.split('\0');
  const values: Values = {};
  for (let i = 0; i + 1 < fields.length; ) {
    const name = fields[i]!;
    const count = Number(fields[i + 1]);
    values[name] = fields.slice(i + 2, i + 2 + count);
    i += 2 + count;
  }
  return values;
}

/** Both sides as name -> non-empty values; '' and [] mean "default" on our side. */
function normalise(values: Values): Values {
  const out: Values = {};
  for (const [name, list] of Object.entries(values)) {
    const kept = list.filter((v) => v !== '');
    if (kept.length > 0) out[name] = kept;
  }
  return out;
}

function ourValues(config: ServerConfig): Values {
  const out: Values = {};
  for (const name of SERVER_VARIABLES) {
    const v = config[name];
    if (v === undefined) continue;
    out[name] = Array.isArray(v) ? v : [v];
  }
  return normalise(out);
}

const rootHome = { homeOf: (user: string) => (user === 'root' ? '/root' : undefined), homeDir: () => '/root' };

const cases: Array<[string, string, Record<string, string>?]> = [
  ['seed file1', 'ARCH=i386\nRELEASE=2.6.18-128.el5\nPORT=5001\nLOG=/path/to/log/file\n'],
  [
    'seed file2',
    "USER=serveruser\nRELEASE=/kernels/2.6.18-92.1.18.el5/build\nINCLUDE=/mytapsets\nINCLUDE+=/yourtapsets\nBUILD='VARIABLE1=VALUE1 VARIABLE2=VALUE2'\nDEFINE=STP_MAXMEMORY=1024\nDEFINE+=DEBUG_TRANS\nRUNTIME=/myruntime\nNICKNAME=my-server\nSSL=/path/to/NSS/certificate/database\n",
  ],
  ['seed 6.6.1 2.6.18', 'ARCH=     # default arch\nUSER=serveruser\nRELEASE=2.6.18-128.el5\nNICKNAME=2.6.18-128.el5\n'],
  ['seed 6.6.1 powerpc', 'ARCH=powerpc\nUSER=     # default user\nRELEASE=  #default release\nNICKNAME=powerpc\n'],
  ['seed 6.6.1 native', 'ARCH=     #default arch\nUSER=     # default user\nRELEASE=  #default release\nNICKNAME=native\n'],
  ['array literal and append', "BUILD=(V=1 'CFLAGS=-O2 -g' \"X=\\\"q\\\"\")  # c\nBUILD+=(W=2)\nBUILD+=Z=3\nDEFINE=()\nINCLUDE=( )"],
  ['quotes and escapes', "NICKNAME='$x \\n \"q\" # not'\nBUILD=\"a\\\"b\\\\c\\$d\\`e\\nf\"\nSSL=/a\\ b\\$c\\;d\nLOG=/a'b c'\"d\"e"],
  ['comment rules', 'NICKNAME=a#b\nBUILD=#x\nARCH=i386 # c\nLOG="/x"#tail\nINCLUDE=(/a) # tail'],
  ['tilde', 'SSL=~root/ssl\nLOG=~/log\nINCLUDE=(~root/t ~/u)\nBUILD=~root:~/b\nBUILD+=X=~root:~/b\nBUILD+=(a:~/b)\nBUILD+="~"/x\nBUILD+=a~root\nRUNTIME=~root'],
  ['variables', 'NICKNAME=n1\nLOG=$LOG_FILE.${NICKNAME}\nSSL="$HOME_SSL/$NICKNAME"x\nARCH=\nBUILD=a${ARCH}b', { LOG_FILE: '/var/log/x', HOME_SSL: '/srv/ssl' }],
  ['export', 'export ARCH=i386\nexport\tINCLUDE+=/a'],
  ['literal globs in scalars', "NICKNAME=a*b?[c]{d,e}\nBUILD=CFLAGS=-O*\nBUILD+=('*' \"?\")"],
  ['empty forms', "ARCH=i386\nARCH=\nUSER=alice\nUSER=''\nINCLUDE=/a\nINCLUDE=()\nDEFINE=A\nDEFINE=\nBUILD=x\nBUILD=\"\"\n"],
  ['utf-8 and tabs', "NICKNAME=серверü\t# c\nBUILD='a\tb'"],
];

describe('parser values equal bash values', () => {
  it.each(cases)('%s', (_name, text, vars = {}) => {
    const ours = ourValues(parseServerConfig(text, 'case.conf', vars, rootHome));
    expect(ours).toEqual(normalise(bashValues(text, vars)));
  });

  it('the comparison can fail: a documented difference shows up', () => {
    // Raw bash: X=v on a two-element array replaces element 0 only, X+=v string-appends to element 0;
    // SystemTap (and we) reset, and append an element.
    const text = 'INCLUDE=(/a /b)\nINCLUDE=/c\nINCLUDE+=/d';
    const file = join(dir, 'raw.conf');
    writeFileSync(file, `${text}\nprintf '%s\\0' "\${INCLUDE[@]}"`);
    const raw = execFileSync('bash', ['--norc', '--noprofile', file], { encoding: 'utf8', timeout: 10_000 });
    expect(raw.split('\0').filter(Boolean)).toEqual(['/c/d', '/b']);
    expect(ourValues(parseServerConfig(text, 'case.conf', {}, rootHome))).toEqual({ INCLUDE: ['/c', '/d'] });
  });

  it('covers every server variable kind', () => {
    expect(SERVER_VARIABLES.filter((n) => SERVER_SCHEMA[n].kind === 'array').sort()).toEqual(['BUILD', 'DEFINE', 'INCLUDE', 'RELEASE']);
  });
});
