/**
 * Applies the assignments of one file, in order, to a typed state: scalars are set, arrays are
 * reset (`=`), emptied (`=`, `=()`) or appended to (`+=`), every value is checked against its
 * schema at its own line. Pure: the only outside world is the injected home-directory lookup.
 */
import { expandWord, type ExpandEnv } from './expand.js';
import { parseLine, type Assignment } from './lexer.js';
import { CONFIG_LIMITS } from './limits.js';
import type { Schema } from './schema.js';
import { splitLines, syntaxError } from './text.js';

export interface EvaluateOptions {
  readonly file: string;
  readonly schema: Schema;
  /** Label of the file kind for messages, e.g. "server config (conf.d/*.conf)". */
  readonly kindLabel: string;
  /** Values the schema's scalars start with; they are visible as $NAME. */
  readonly initial?: Readonly<Record<string, string>>;
  /** Variables of the caller, visible as $NAME unless the file assigns the same name. */
  readonly vars?: Readonly<Record<string, string>>;
  /** Global file rule: an empty value keeps the previous value instead of clearing it. */
  readonly emptyKeepsPrevious?: boolean;
  homeOf(user: string): string | undefined;
  homeDir(): string | undefined;
}

export interface EvaluatedConfig {
  readonly scalars: Map<string, string>;
  readonly arrays: Map<string, string[]>;
  /** Line of the last assignment of each variable. */
  readonly lines: Map<string, number>;
}

export function evaluateConfig(text: string, options: EvaluateOptions): EvaluatedConfig {
  const { file } = options;
  const state: EvaluatedConfig = {
    scalars: new Map(Object.entries(options.initial ?? {})),
    arrays: new Map(),
    lines: new Map(),
  };
  splitLines(text, file).forEach((source, index) => {
    const assignment = parseLine(source, index + 1, file);
    if (assignment) apply(assignment, state, options);
  });
  return state;
}

function apply(a: Assignment, state: EvaluatedConfig, options: EvaluateOptions): void {
  const { file, schema } = options;
  const fail = (detail: string, column?: number): never => {
    throw syntaxError(file, a.line, detail, column);
  };
  const spec = schema[a.name];
  if (!spec) {
    fail(`unknown variable '${a.name}' in a ${options.kindLabel}; allowed: ${Object.keys(schema).join(' ')}`, 1);
    return;
  }

  const env: ExpandEnv = {
    file,
    line: a.line,
    homeOf: options.homeOf,
    homeDir: options.homeDir,
    lookupVar: (name, column) => lookup(name, column, a.line, state, options),
  };
  const checked = (raw: string): string => {
    const problem = spec.check?.(raw);
    if (problem) fail(problem);
    return spec.normalize ? spec.normalize(raw) : raw;
  };

  if (spec.kind === 'scalar') {
    if (a.append) fail(`'+=' appends to arrays only, and ${a.name} is a single value: write ${a.name}=...`);
    if (a.value.kind === 'array') fail(`${a.name} is a single value, not an array: write ${a.name}=value`, a.value.column);
    if (a.value.kind !== 'word') return;
    const value = expandWord(a.value.word, env);
    state.lines.set(a.name, a.line);
    if (value === '') {
      if (!options.emptyKeepsPrevious) state.scalars.set(a.name, '');
      return;
    }
    state.scalars.set(a.name, checked(value));
    return;
  }

  // Arrays. Empty elements are dropped: an empty -B/-D/-I/-r is never meant.
  const words = a.value.kind === 'array' ? a.value.elements : [a.value.word];
  const values = words.map((w) => expandWord(w, env)).filter((v) => v !== '').map(checked);
  const previous = a.append ? (state.arrays.get(a.name) ?? []) : [];
  const next = [...previous, ...values];
  if (next.length > CONFIG_LIMITS.maxArrayElements) fail(`${a.name} has more than ${CONFIG_LIMITS.maxArrayElements} elements`);
  state.arrays.set(a.name, next);
  state.lines.set(a.name, a.line);
}

function lookup(name: string, column: number, line: number, state: EvaluatedConfig, options: EvaluateOptions): string {
  const fail = (detail: string): never => {
    throw syntaxError(options.file, line, detail, column);
  };
  if (state.arrays.has(name)) {
    return fail(`'$${name}': ${name} is an array (bash would give only its first element); arrays cannot be referenced`);
  }
  const scalar = state.scalars.get(name);
  if (scalar !== undefined) return scalar;
  const spec = options.schema[name];
  if (spec?.kind === 'array') return fail(`'$${name}': ${name} is an array; arrays cannot be referenced`);
  if (spec) return fail(`'$${name}': ${name} is not set on an earlier line`);
  const external = options.vars?.[name];
  if (external !== undefined) return external;
  const known = [...state.scalars.keys(), ...Object.keys(options.vars ?? {})];
  return fail(`unknown variable '$${name}'${known.length ? `; known here: ${[...new Set(known)].join(' ')}` : ''}`);
}
