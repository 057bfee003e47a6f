/**
 * Turns a parsed word into its string value: literal text, ~/~user home directories (looked up
 * through an injected function) and $NAME references resolved by the caller. No command runs.
 */
import type { Word } from './lexer.js';
import { CONFIG_LIMITS } from './limits.js';
import { syntaxError } from './text.js';

export interface ExpandEnv {
  readonly file: string;
  readonly line: number;
  /** Value of $NAME, or throws a syntax error naming the line. */
  lookupVar(name: string, column: number): string;
  homeOf(user: string): string | undefined;
  /** Home directory for a bare `~`. */
  homeDir(): string | undefined;
}

export function expandWord(word: Word, env: ExpandEnv): string {
  let out = '';
  for (const segment of word.segments) {
    switch (segment.kind) {
      case 'text':
        out += segment.text;
        break;
      case 'var':
        out += env.lookupVar(segment.name, segment.column);
        break;
      case 'tilde': {
        const home = segment.user === '' ? env.homeDir() : env.homeOf(segment.user);
        if (home === undefined || home === '') {
          const what = segment.user === '' ? "'~': the home directory is not known" : `'~${segment.user}': no such user`;
          throw syntaxError(env.file, env.line, what, segment.column);
        }
        out += home;
        break;
      }
    }
    // Checked as we go: a chain of $X$X doublings must fail before it grows large.
    if (out.length > CONFIG_LIMITS.maxValueChars) {
      throw syntaxError(env.file, env.line, `value is longer than ${CONFIG_LIMITS.maxValueChars} characters after expansion`, word.column);
    }
  }
  const control = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.exec(out);
  if (control) {
    throw syntaxError(env.file, env.line, 'value contains a control character after expansion', word.column);
  }
  return out;
}
