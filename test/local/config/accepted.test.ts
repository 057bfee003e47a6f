import { describe, expect, it } from 'vitest';
import { parseGlobalConfig, parseServerConfig, DEFAULT_GLOBAL } from '../../../src/local/config/index.js';
import { expectSyntaxError, fakeDeps } from './helpers.js';

const parse = (text: string, vars: Record<string, string> = {}) => parseServerConfig(text, 'x.conf', vars, fakeDeps);

describe('accepted forms (server config)', () => {
  it('X=v sets a scalar; the result carries file and lines', () => {
    const c = parse('ARCH=i386\nPORT=5001\n');
    expect(c).toEqual({ file: 'x.conf', ARCH: 'i386', PORT: '5001', BUILD: [], INCLUDE: [], DEFINE: [], lines: { ARCH: 1, PORT: 2 } });
  });

  it('empty file and comment-only file give all defaults', () => {
    const empty = { file: 'x.conf', BUILD: [], INCLUDE: [], DEFINE: [], lines: {} };
    expect(parse('')).toEqual(empty);
    expect(parse('# nothing\n\n   \t\n  # indented comment\n')).toEqual(empty);
  });

  it('X= and X=() and X="" are empty: scalars go back to default, arrays empty', () => {
    const c = parse("ARCH=i386\nARCH=\nUSER=alice\nUSER=''\nINCLUDE=/a\nINCLUDE=()\nDEFINE=A\nDEFINE=\nBUILD=x\nBUILD=\"\"\nLOG=/l\nLOG=\nRELEASE=(a b)\nRELEASE=( )");
    expect(c.ARCH).toBeUndefined();
    expect(c.USER).toBeUndefined();
    expect(c.LOG).toBeUndefined();
    expect(c.INCLUDE).toEqual([]);
    expect(c.DEFINE).toEqual([]);
    expect(c.BUILD).toEqual([]);
    expect(c.RELEASE).toBeUndefined();
    expect(c.lines).toMatchObject({ ARCH: 2, USER: 4, INCLUDE: 6, DEFINE: 8, BUILD: 10, LOG: 12, RELEASE: 14 });
  });

  it('X+=v appends to arrays; X=v resets an array (SystemTap semantics)', () => {
    const c = parse('INCLUDE=/a\nINCLUDE+=/b\nINCLUDE+=(/c "/d e")\nDEFINE+=X\nDEFINE=Y\nRELEASE+=6.1.0-1-amd64\nRELEASE+=/kernels/x/build');
    expect(c.INCLUDE).toEqual(['/a', '/b', '/c', '/d e']);
    expect(c.DEFINE).toEqual(['Y']);
    expect(c.RELEASE).toEqual(['6.1.0-1-amd64', '/kernels/x/build']);
  });

  it("X=(a 'b c') array literal, blanks and tabs between elements, comment after", () => {
    const c = parse("BUILD=(V=1 'CFLAGS=-O2 -g'\t\"X=\\\"q\\\"\" )   # make options\nDEFINE=()");
    expect(c.BUILD).toEqual(['V=1', 'CFLAGS=-O2 -g', 'X="q"']);
    expect(c.DEFINE).toEqual([]);
  });

  it('empty array elements are dropped', () => {
    expect(parse("BUILD=('' a \"\")\nBUILD+=''\nBUILD+=").BUILD).toEqual(['a']);
  });

  it('single quotes are literal; double quotes expand $VAR and honour \\" \\\\ \\$ \\` only', () => {
    const c = parse(["NICKNAME='$x \\n \"q\" # not a comment'", 'BUILD="a\\"b\\\\c\\$d\\`e\\nf"'].join('\n'));
    expect(c.NICKNAME).toBe('$x \\n "q" # not a comment');
    expect(c.BUILD).toEqual(['a"b\\c$d`e\\nf']);
  });

  it('unquoted backslash quotes the next character', () => {
    expect(parse(String.raw`NICKNAME=a\ b\$c\;d`).NICKNAME).toBe('a b$c;d');
  });

  it('adjacent quoted and unquoted parts concatenate', () => {
    expect(parse(`NICKNAME=a'b c'"d"e`).NICKNAME).toBe('ab cde');
  });

  it('# starts a comment only at a word start (as in bash)', () => {
    const c = parse('NICKNAME=a#b\nBUILD=#x\nARCH=i386 # c');
    expect(c.NICKNAME).toBe('a#b');
    expect(c.BUILD).toEqual(['#x']);
    expect(c.ARCH).toBe('i386');
    expect(parse('NICKNAME="x"#tail').NICKNAME).toBe('x#tail');
    expectSyntaxError(() => parse('NICKNAME="x"# tail'), 'x.conf', 1, "bash would run 'tail'");
    expect(parse('INCLUDE=(/a) # tail').INCLUDE).toEqual(['/a']);
    // bash: INCLUDE=(/a)#x is the string '(/a)#x', and INCLUDE=(/a)# x runs x.
    expectSyntaxError(() => parse('INCLUDE=(/a)# tail'), 'x.conf', 1, "')' must be followed by a blank");
  });

  it('ARCH=     # comment means empty (seed 6.6.1)', () => {
    const c = parse('ARCH=     # default arch\nRELEASE=  #default release\nUSER=\t# default user');
    expect(c.ARCH).toBeUndefined();
    expect(c.RELEASE).toBeUndefined();
    expect(c.USER).toBeUndefined();
    expect(c.lines).toEqual({ ARCH: 1, RELEASE: 2, USER: 3 });
  });

  it('leading blanks before an assignment are fine', () => {
    expect(parse('   \tARCH=i386').ARCH).toBe('i386');
  });

  it('~user and ~ expand at the word start; ~ after : in assignments; not inside quotes or mid-word', () => {
    expect(parse('SSL=~serveruser/ssl').SSL).toBe('/home/serveruser/ssl');
    expect(parse('SSL=~serveruser').SSL).toBe('/home/serveruser');
    expect(parse('LOG=~/log').LOG).toBe('/root/log');
    expect(parse('LOG=~').LOG).toBe('/root');
    expect(parse('INCLUDE=(~alice/t ~/u)').INCLUDE).toEqual(['/home/alice/t', '/root/u']);
    expect(parse('INCLUDE=~alice/t').INCLUDE).toEqual(['/home/alice/t']);
    expect(parse('BUILD=X=~alice:~/b').BUILD).toEqual(['X=~alice:/root/b']);
    expect(parse('BUILD=~alice:~/b').BUILD).toEqual(['/home/alice:/root/b']);
    expect(parse('BUILD=(a:~/b)').BUILD).toEqual(['a:~/b']);
    expect(parse(`BUILD='~alice/x'`).BUILD).toEqual(['~alice/x']);
    expect(parse(`BUILD="~"/x`).BUILD).toEqual(['~/x']);
    expect(parse('BUILD=a~alice').BUILD).toEqual(['a~alice']);
  });

  it('$VAR and ${VAR} of earlier scalar assignments and of the caller', () => {
    const c = parse('NICKNAME=n1\nLOG=$LOG_FILE.${NICKNAME}\nSSL="$HOME_SSL/$NICKNAME"x\nNICKNAME=', {
      LOG_FILE: '/var/log/stap-server/log',
      HOME_SSL: '/srv/ssl',
    });
    expect(c.LOG).toBe('/var/log/stap-server/log.n1');
    expect(c.SSL).toBe('/srv/ssl/n1x');
    expect(c.NICKNAME).toBeUndefined();
  });

  it('a variable assigned empty expands to empty; the file shadows the caller', () => {
    const c = parse('ARCH=\nNICKNAME=a${ARCH}b\nLOG=/x\nSSL=$LOG/ssl', { LOG: '/caller' });
    expect(c.NICKNAME).toBe('ab');
    expect(c.SSL).toBe('/x/ssl');
  });

  it('export NAME=value is accepted and means NAME=value', () => {
    const c = parse('export ARCH=i386\nexport\tINCLUDE+=/a');
    expect(c.ARCH).toBe('i386');
    expect(c.INCLUDE).toEqual(['/a']);
  });

  it('scalar values keep * ? [ { literally (bash does not glob assignment values)', () => {
    expect(parse('NICKNAME=a*b?[c]{d,e}').NICKNAME).toBe('a*b?[c]{d,e}');
    expect(parse('BUILD=CFLAGS=-O*').BUILD).toEqual(['CFLAGS=-O*']);
    expect(parse("BUILD=('*' \"?\")").BUILD).toEqual(['*', '?']);
  });

  it('PORT and MAX* are validated and normalised integers', () => {
    const c = parse('PORT=0\nMAXTHREADS=0\nMAXREQSIZE=50000\nMAXCOMPRESSEDREQ=005000');
    expect(c).toMatchObject({ PORT: '0', MAXTHREADS: '0', MAXREQSIZE: '50000', MAXCOMPRESSEDREQ: '5000' });
    expect(parse('PORT=65535').PORT).toBe('65535');
    expectSyntaxError(() => parse('\nPORT=65536'), 'x.conf', 2, 'PORT must be an integer from 0 to 65535');
    expectSyntaxError(() => parse('MAXREQSIZE=0'), 'x.conf', 1, 'MAXREQSIZE must be an integer from 1');
    expectSyntaxError(() => parse('MAXTHREADS=1025'), 'x.conf', 1, 'MAXTHREADS must be an integer from 0 to 1024');
  });

  it('non-ASCII UTF-8 text is literal', () => {
    expect(parse('NICKNAME=серверü').NICKNAME).toBe('серверü');
  });

  it('tabs are blanks; a tab inside quotes is kept', () => {
    expect(parse("ARCH=i386\t\t# c\nBUILD='a\tb'").BUILD).toEqual(['a\tb']);
  });
});

describe('global config', () => {
  it('defaults', () => {
    expect(DEFAULT_GLOBAL).toEqual({
      CONFIG_PATH: '/etc/stap-server/conf.d',
      STAT_PATH: '/var/run/stap-server',
      LOG_FILE: '/var/log/stap-server/log',
      STAP_USER: 'stap-server',
    });
  });

  it('sets values, ignores empty ones, sees earlier values as $NAME', () => {
    const g = parseGlobalConfig('STAT_PATH=/srv/stat\nLOG_FILE=\nCONFIG_PATH=$STAT_PATH/../conf.d\nSTAP_USER=alice\nLOG_FILE="${LOG_FILE}.old"', 'g');
    expect(g).toEqual({ CONFIG_PATH: '/srv/stat/../conf.d', STAT_PATH: '/srv/stat', LOG_FILE: '/var/log/stap-server/log.old', STAP_USER: 'alice' });
  });

  it('starts from base', () => {
    const base = { ...DEFAULT_GLOBAL, LOG_FILE: '/tmp/l' };
    expect(parseGlobalConfig('# nothing', 'g', base)).toEqual(base);
  });

  it('relative paths after expansion are errors; a quoted ~ is not expanded and so relative', () => {
    expectSyntaxError(() => parseGlobalConfig('\nSTAT_PATH=run', 'g', undefined, fakeDeps), 'g', 2, 'STAT_PATH must be an absolute path');
    expectSyntaxError(() => parseGlobalConfig('CONFIG_PATH="~alice/c"', 'g', undefined, fakeDeps), 'g', 1, 'absolute path');
    expectSyntaxError(() => parseGlobalConfig('STAP_USER=-oops', 'g', undefined, fakeDeps), 'g', 1, 'not a valid user name');
  });

  it('server variables are unknown in the global file and vice versa', () => {
    expectSyntaxError(() => parseGlobalConfig('ARCH=i386', 'g'), 'g', 1, "unknown variable 'ARCH' in a global config file");
    expectSyntaxError(() => parse('CONFIG_PATH=/x'), 'x.conf', 1, "unknown variable 'CONFIG_PATH' in a server config file");
  });
});

describe('small rejections (the corpus has the hostile ones)', () => {
  const cases: Array<[string, number, string]> = [
    ['export ARCH', 1, "not an assignment: 'ARCH'"],
    ['export -n ARCH=x', 1, "not an assignment: '-n'"],
    ['SSL=~root$X/ssl', 1, "'~root' followed by '$' is ambiguous"],
    ['NICKNAME=$"msg"', 1, 'quoting is not supported'],
    ['NICKNAME=${#NICKNAME}', 1, 'only plain ${NAME}'],
    ['NICKNAME="a$"', 1, "a lone '$'"],
    ['NICKNAME=$', 1, "a lone '$'"],
    ['NICKNAME=$$', 1, "special parameter '$$'"],
    ['\n\nBUILD=(a (b))', 3, 'nested parentheses'],
    ['INCLUDE=(/a) /b', 1, "bash would run '/b'"],
    ['ARCH=i386 extra # c', 1, "bash would run 'extra'"],
    ['DEFINE=(A=1 [x])', 1, "unquoted '['"],
    ['INCLUDE=(/a?)', 1, "unquoted '?'"],
    ['ARCH=i/386', 1, 'is not an architecture name'],
    ['LOG="$(id)"', 1, 'command substitution'],
    ['LOG="x`id`"', 1, 'backtick'],
    ['RUNTIME=rt', 1, 'RUNTIME must be an absolute path'],
    ['INCLUDE+=(/a rel)', 1, 'INCLUDE must be an absolute path'],
    ['f () { :; }', 1, "not an assignment: 'f'"],
  ];
  it.each(cases)('%j fails at line %i', (text, line, fragment) => {
    expectSyntaxError(() => parse(text), 'x.conf', line, fragment);
  });

  it('errors carry the column', () => {
    const err = expectSyntaxError(() => parse('ARCH=i386\nNICKNAME=ab$(id)'), 'x.conf', 2, '(column 12)');
    expect(err.params.column).toBe(12);
    expect(err.category).toBe('not-configured');
  });
});

describe('control characters from caller variables', () => {
  it('a newline or escape arriving through $VAR is rejected at the line that uses it', () => {
    expectSyntaxError(() => parse('ARCH=i386\nNICKNAME=a$X', { X: 'b\nLOG=/evil' }), 'x.conf', 2, 'control character after expansion');
    expectSyntaxError(() => parse('NICKNAME=$X', { X: '\u001b[2J' }), 'x.conf', 1, 'control character after expansion');
    expect(parse('NICKNAME=$X', { X: 'a\tb' }).NICKNAME).toBe('a\tb');
  });
});
