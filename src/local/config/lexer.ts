/**
 * Parses one line of a config file into an assignment, following bash's rules for the small subset
 * the seed's examples use, and rejecting everything else. Nothing here evaluates anything: the
 * result is a syntax tree of literal text, $VAR references and ~user prefixes (see expand.ts).
 */
import { syntaxError } from './text.js';

export type Segment =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'var'; readonly name: string; readonly column: number }
  /** A tilde prefix: `user` is '' for a bare `~`. */
  | { readonly kind: 'tilde'; readonly user: string; readonly column: number };

export interface Word {
  readonly segments: readonly Segment[];
  readonly column: number;
}

export type Value =
  | { readonly kind: 'word'; readonly word: Word }
  | { readonly kind: 'array'; readonly elements: readonly Word[]; readonly column: number };

export interface Assignment {
  readonly line: number;
  readonly name: string;
  /** `NAME+=value` */
  readonly append: boolean;
  /** Written as `export NAME=value` (accepted, no further meaning). */
  readonly exported: boolean;
  readonly value: Value;
}

/** Word context: a plain assignment value, or an element of `( ... )` where bash globs and brace-expands. */
type WordContext = 'scalar' | 'array';

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const BLANK = /[ \t]/;
const TILDE_USER_CHAR = /[A-Za-z0-9._-]/;

/** Why each unquoted shell metacharacter is refused. */
const METACHAR_REASON: Record<string, string> = {
  ';': "';' is a command separator: bash would run what follows it as a command",
  '&': "'&' would run a command in the background or chain commands",
  '|': "'|' is a pipe: bash would run commands",
  '<': "'<' is a redirection (or here-document): bash would open a file",
  '>': "'>' is a redirection: bash would create or overwrite a file",
  '(': "'(' starts a subshell or function definition here; only NAME=(...) is an array",
  ')': "unexpected ')'",
  '`': 'backtick command substitution is not allowed: config files are parsed, never executed',
};

const GLOB_REASON =
  'inside (...) bash would expand it against file names (or brace-expand it); quote the element';

export function parseLine(source: string, line: number, file: string): Assignment | null {
  return new LineParser(source, line, file).parse();
}

class LineParser {
  private pos = 0;

  constructor(
    private readonly src: string,
    private readonly line: number,
    private readonly file: string,
  ) {}

  parse(): Assignment | null {
    this.skipBlanks();
    if (this.atEnd() || this.peek() === '#') return null;

    let exported = false;
    if (/^export(?:[ \t]|$)/.test(this.src.slice(this.pos))) {
      exported = true;
      this.pos += 'export'.length;
      this.skipBlanks();
      if (this.atEnd() || this.peek() === '#') throw this.error("'export' must be followed by NAME=value");
    }

    const nameColumn = this.pos + 1;
    const name = this.readName();
    if (name === '') throw this.notAnAssignment(nameColumn);

    let append = false;
    if (this.src.startsWith('+=', this.pos)) {
      append = true;
      this.pos += 2;
    } else if (this.peek() === '=') {
      this.pos += 1;
    } else if (this.peek() === '[') {
      throw this.error(`array subscripts (${name}[...]) are not supported; use ${name}=(...) or ${name}+=value`);
    } else if (this.peek() === '(') {
      throw this.error('function definitions are not allowed: config files are parsed, never executed', nameColumn);
    } else {
      throw this.notAnAssignment(nameColumn);
    }

    const value = this.peek() === '(' ? this.readArray() : { kind: 'word' as const, word: this.readWord('scalar') };
    if (value.kind === 'array' && !this.atEnd() && !BLANK.test(this.peek())) {
      // bash only sees an array in NAME=(...) when ')' ends the word; NAME=(a)b is a plain string.
      throw this.error(`')' must be followed by a blank or the end of the line, not '${this.peek()}'`);
    }
    this.readTrailer();
    return { line: this.line, name, append, exported, value };
  }

  /** After the value: only blanks and an optional comment. */
  private readTrailer(): void {
    const hadBlank = this.skipBlanks();
    if (this.atEnd()) return;
    const c = this.peek();
    if (c === '#' && hadBlank) return;
    const reason = METACHAR_REASON[c];
    if (reason) throw this.error(reason);
    const rest = this.src.slice(this.pos).split(/[ \t]/)[0];
    throw this.error(
      `unquoted blank before '${rest}': bash would run '${rest}' as a command; quote the whole value (NAME='a b') or start a comment with '#'`,
    );
  }

  private readArray(): Value {
    const column = this.pos + 1;
    this.pos += 1; // '('
    const elements: Word[] = [];
    for (;;) {
      this.skipBlanks();
      if (this.atEnd()) throw this.error("unterminated array: '(' has no ')' on the same line", column);
      const c = this.peek();
      if (c === ')') {
        this.pos += 1;
        return { kind: 'array', elements, column };
      }
      if (c === '#') throw this.error("'#' inside (...) starts a comment that hides the closing ')'; close the array first");
      if (c === '(') throw this.error('nested parentheses are not allowed in an array');
      elements.push(this.readWord('array'));
    }
  }

  private readWord(context: WordContext): Word {
    const column = this.pos + 1;
    const segments: Segment[] = [];
    const start = this.pos;
    let tildeAllowed = true; // at the word start, and (bash, assignments only) after an unquoted ':'
    while (!this.atEnd()) {
      const c = this.peek();
      if (BLANK.test(c)) break;
      if (context === 'array' && c === ')') break;
      if (c === '~' && tildeAllowed) {
        segments.push(this.readTilde(context));
        tildeAllowed = false;
        continue;
      }
      tildeAllowed = false;
      switch (c) {
        case "'":
          segments.push({ kind: 'text', text: this.readSingleQuoted() });
          break;
        case '"':
          segments.push(...this.readDoubleQuoted());
          break;
        case '\\':
          if (this.pos + 1 >= this.src.length) {
            throw this.error('a backslash at the end of a line (line continuation) is not supported; keep each assignment on one line');
          }
          segments.push({ kind: 'text', text: this.src[this.pos + 1]! });
          this.pos += 2;
          break;
        case '$':
          segments.push(this.readDollar(false));
          break;
        default: {
          const reason = METACHAR_REASON[c];
          if (reason) throw this.error(reason);
          if (context === 'array' && '*?[{}'.includes(c)) throw this.error(`unquoted '${c}': ${GLOB_REASON}`);
          segments.push({ kind: 'text', text: c });
          this.pos += 1;
          if (c === ':' && context === 'scalar') tildeAllowed = true;
        }
      }
    }
    if (this.pos === start && context === 'array') throw this.error('empty array element');
    return { segments: mergeText(segments), column };
  }

  /** `~` or `~user`, which must end the word or be followed by '/' (or ':' in an assignment). */
  private readTilde(context: WordContext): Segment {
    const column = this.pos + 1;
    this.pos += 1;
    let user = '';
    while (!this.atEnd() && TILDE_USER_CHAR.test(this.peek())) user += this.src[this.pos++];
    const next = this.peek();
    const ends = this.atEnd() || BLANK.test(next) || next === '/' || (context === 'scalar' ? next === ':' : next === ')');
    if (!ends) {
      const reason = METACHAR_REASON[next];
      if (reason) throw this.error(reason);
      throw this.error(
        `'~${user}' followed by '${next}' is ambiguous (bash would not expand it); write ~user/... or quote the '~'`,
        column,
      );
    }
    if (user !== '' && !/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(user)) {
      throw this.error(`'~${user}': invalid user name`, column);
    }
    return { kind: 'tilde', user, column };
  }

  private readSingleQuoted(): string {
    const open = this.pos + 1;
    const close = this.src.indexOf("'", this.pos + 1);
    if (close === -1) throw this.error("unterminated single quote: no closing ' on the same line", open);
    const text = this.src.slice(this.pos + 1, close);
    this.pos = close + 1;
    return text;
  }

  /** Double quotes: `\` escapes only $ ` " \ (bash); $VAR and ${VAR} expand; backticks are refused. */
  private readDoubleQuoted(): Segment[] {
    const open = this.pos + 1;
    this.pos += 1;
    const segments: Segment[] = [];
    for (;;) {
      if (this.atEnd()) throw this.error('unterminated double quote: no closing " on the same line', open);
      const c = this.peek();
      if (c === '"') {
        this.pos += 1;
        // An empty "" still yields an (empty) text segment, so that NAME="" is a value.
        return segments.length === 0 ? [{ kind: 'text', text: '' }] : segments;
      }
      if (c === '\\') {
        const next = this.src[this.pos + 1];
        if (next !== undefined && '$`"\\'.includes(next)) {
          segments.push({ kind: 'text', text: next });
          this.pos += 2;
        } else {
          segments.push({ kind: 'text', text: '\\' });
          this.pos += 1;
        }
      } else if (c === '$') {
        segments.push(this.readDollar(true));
      } else if (c === '`') {
        throw this.error(METACHAR_REASON['`']!);
      } else {
        segments.push({ kind: 'text', text: c });
        this.pos += 1;
      }
    }
  }

  /** `$NAME` or `${NAME}`; every other form of `$` is refused. */
  private readDollar(inDoubleQuotes: boolean): Segment {
    const column = this.pos + 1;
    const next = this.src[this.pos + 1];
    if (next === '(') {
      throw this.error(
        this.src[this.pos + 2] === '('
          ? "arithmetic expansion '$((...))' is not allowed: config files are parsed, never executed"
          : "command substitution '$(...)' is not allowed: config files are parsed, never executed",
      );
    }
    if (next === '{') {
      const close = this.src.indexOf('}', this.pos + 2);
      if (close === -1) throw this.error("unterminated '${': no closing '}' on the same line");
      const inner = this.src.slice(this.pos + 2, close);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(inner)) {
        throw this.error(`'\${${inner}}': only plain \${NAME} is supported (no defaults, substitutions, lengths or indirection)`);
      }
      this.pos = close + 1;
      return { kind: 'var', name: inner, column };
    }
    if (next !== undefined && NAME_START.test(next)) {
      this.pos += 1;
      return { kind: 'var', name: this.readName(), column };
    }
    if (next !== undefined && /[0-9@*#?$!-]/.test(next)) {
      throw this.error(`special parameter '$${next}' is not allowed; only $NAME of earlier assignments`);
    }
    if (!inDoubleQuotes && (next === "'" || next === '"')) {
      throw this.error(`'$${next}...' quoting is not supported; use plain '...' or "..."`);
    }
    throw this.error("a lone '$' must be escaped (\\$) or single-quoted");
  }

  private readName(): string {
    if (this.atEnd() || !NAME_START.test(this.peek())) return '';
    const start = this.pos;
    while (!this.atEnd() && NAME_CHAR.test(this.peek())) this.pos += 1;
    return this.src.slice(start, this.pos);
  }

  private notAnAssignment(column: number): Error {
    const word = this.src.slice(column - 1).split(/[ \t]/)[0] ?? '';
    const shown = word.length > 40 ? `${word.slice(0, 40)}...` : word;
    return syntaxError(
      this.file,
      this.line,
      `not an assignment: '${shown}' would be a command in bash; config lines must be NAME=value (no commands, functions, 'if', spaces around '=')`,
      column,
    );
  }

  private skipBlanks(): boolean {
    const start = this.pos;
    while (!this.atEnd() && BLANK.test(this.peek())) this.pos += 1;
    return this.pos > start;
  }

  private peek(): string {
    return this.src[this.pos] ?? '';
  }

  private atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  private error(detail: string, column = this.pos + 1): Error {
    return syntaxError(this.file, this.line, detail, column);
  }
}

function mergeText(segments: Segment[]): Segment[] {
  const merged: Segment[] = [];
  for (const s of segments) {
    const last = merged[merged.length - 1];
    if (s.kind === 'text' && last?.kind === 'text') merged[merged.length - 1] = { kind: 'text', text: last.text + s.text };
    else merged.push(s);
  }
  return merged;
}
