/**
 * The seed's option accumulation, in two steps:
 *  1. parseServiceArgs: argv (after the action) -> an ordered list of operations, the -c file and the
 *     per-server lists (--log --port --ssl --max-*). Commander cannot keep the interleaved order that
 *     accumulation depends on, so this is a small walker over the same grammar.
 *  2. accumulateSpecs: operations -> server specs, with lookups (running servers, conf.d, /lib/modules,
 *     build trees) behind an interface so the logic is unit-tested without a host.
 *
 * Accumulation rules (seed 2.3): -a -r -u -I -R -B -D set the current state (-r, -I, -B, -D append);
 * -i, -n and -p each select servers (-i: one per release in /lib/modules with the default architecture;
 * -n: a running server with that nickname, else the conf.d server with it, else, for start-like
 * actions, a new server of the current state with that nickname; -p: the running server with that pid).
 * Options after a selector refine the servers it selected; state carries over to later selectors.
 * Without any selector, the options given describe one server. --log/--port/--ssl/--max-* lists are
 * applied in turn to the servers specified; past a list's end a server keeps its own (or default) value.
 */
import { StapFleetError } from '../errors.js';
import { cloneSpec, emptySpec, type ServerSpec } from './spec.js';

export type SpecOp =
  | { kind: 'set'; field: 'arch' | 'runtime' | 'user'; value: string }
  | { kind: 'add'; field: 'releases' | 'include' | 'build' | 'define'; value: string }
  | { kind: 'all-releases' }
  | { kind: 'nickname'; name: string }
  | { kind: 'pid'; pid: string };

export interface ServerLists {
  log: string[];
  port: string[];
  ssl: string[];
  maxThreads: string[];
  maxRequestSize: string[];
  maxCompressedRequest: string[];
}

export interface ParsedArgs {
  ops: SpecOp[];
  lists: ServerLists;
  /** The last -c file, if any. */
  configFile?: string;
  json: boolean;
  /** -k and -P: accepted for compatibility with SystemTap's script, not used. */
  ignored: string[];
}

const SHORT_WITH_VALUE = new Set(['a', 'B', 'c', 'D', 'I', 'n', 'p', 'r', 'R', 'u']);
const LONG_LISTS: Record<string, keyof ServerLists> = {
  log: 'log',
  port: 'port',
  ssl: 'ssl',
  'max-threads': 'maxThreads',
  'max-request-size': 'maxRequestSize',
  'max-compressed-request': 'maxCompressedRequest',
};
const NUMERIC_LISTS = new Set<keyof ServerLists>(['port', 'maxThreads', 'maxRequestSize', 'maxCompressedRequest']);

const usage = (detail: string): StapFleetError => new StapFleetError('SF_USAGE', { detail });

/** Walks argv in order. Accepts `-a X`, `-aX`, `--log X` and `--log=X`. */
export function parseServiceArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = {
    ops: [],
    lists: { log: [], port: [], ssl: [], maxThreads: [], maxRequestSize: [], maxCompressedRequest: [] },
    json: false,
    ignored: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let name: string;
    let value: string | undefined;
    if (arg === '--') continue;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) value = arg.slice(eq + 1);
      if (name === 'json') {
        if (value !== undefined) throw usage(`option '--json' takes no value`);
        out.json = true;
        continue;
      }
      const list = LONG_LISTS[name];
      if (!list) throw usage(`unknown option '${arg}'`);
      if (value === undefined) {
        if (i + 1 >= argv.length) throw usage(`option '--${name}' requires an argument`);
        value = argv[++i]!;
      }
      checkValue(`--${name}`, value);
      if (NUMERIC_LISTS.has(list) && !/^\d+$/.test(value)) throw usage(`option '--${name}' needs a number, got '${value}'`);
      if (list === 'port' && Number(value) > 65535) throw usage(`option '--port' out of range: ${value}`);
      out.lists[list].push(value);
      continue;
    }
    if (!arg.startsWith('-') || arg.length < 2) throw usage(`unexpected argument '${arg}'`);
    name = arg[1]!;
    if (name === 'i' || name === 'k' || name === 'P') {
      if (arg.length > 2) throw usage(`unknown option '${arg}'`);
      if (name === 'i') out.ops.push({ kind: 'all-releases' });
      else out.ignored.push(arg);
      continue;
    }
    if (!SHORT_WITH_VALUE.has(name)) throw usage(`unknown option '${arg}'`);
    if (arg.length > 2) value = arg.slice(2);
    else {
      if (i + 1 >= argv.length) throw usage(`option '-${name}' requires an argument`);
      value = argv[++i]!;
    }
    checkValue(`-${name}`, value);
    switch (name) {
      case 'a':
        out.ops.push({ kind: 'set', field: 'arch', value });
        break;
      case 'R':
        out.ops.push({ kind: 'set', field: 'runtime', value });
        break;
      case 'u':
        out.ops.push({ kind: 'set', field: 'user', value });
        break;
      case 'r':
        out.ops.push({ kind: 'add', field: 'releases', value });
        break;
      case 'I':
        out.ops.push({ kind: 'add', field: 'include', value });
        break;
      case 'B':
        out.ops.push({ kind: 'add', field: 'build', value });
        break;
      case 'D':
        out.ops.push({ kind: 'add', field: 'define', value });
        break;
      case 'n':
        out.ops.push({ kind: 'nickname', name: value });
        break;
      case 'p':
        if (!/^\d+$/.test(value)) throw usage(`option '-p' needs a process id, got '${value}'`);
        out.ops.push({ kind: 'pid', pid: value });
        break;
      case 'c':
        out.configFile = value;
        break;
    }
  }
  return out;
}

/** Values end up one per line in status files: a newline would forge another line. */
function checkValue(option: string, value: string): void {
  if (/[\n\r\0]/.test(value)) throw usage(`option '${option}': value must not contain a newline or NUL`);
}

export interface SpecLookups {
  /** The running server with this nickname (its recorded spec, nickname set). */
  runningByNickname(name: string): ServerSpec | undefined;
  /** The first CONFIG_PATH/*.conf server whose NICKNAME is this. */
  configuredByNickname(name: string): ServerSpec | undefined;
  /** The running server with this pid; undefined when there is none. */
  runningByPid(pid: number): ServerSpec | undefined;
  /** Entries of /lib/modules. */
  installedReleases(): string[];
  /** For -r /path: throws SF_BUILD_TREE when <path>/include/config/kernel.release is missing or empty. */
  checkBuildTree(path: string): void;
}

export interface Accumulated {
  /** The servers the command line specified, in order (empty: none specified). */
  specs: ServerSpec[];
}

/**
 * Turns operations into specs. `startLike`: whether an unknown -n names a new server (start, restart,
 * force-reload) or is an error (SF_UNKNOWN_NICKNAME).
 */
export function accumulateSpecs(parsed: ParsedArgs, lookups: SpecLookups, startLike: boolean): Accumulated {
  const state = emptySpec();
  const done: ServerSpec[] = [];
  let open: ServerSpec[] | undefined;
  let touched = false;
  const close = (): void => {
    if (open) done.push(...open);
    open = undefined;
  };
  const apply = (s: ServerSpec, op: Extract<SpecOp, { kind: 'set' | 'add' }>): void => {
    if (op.kind === 'set') s[op.field] = op.value;
    else s[op.field].push(op.value);
  };
  for (const op of parsed.ops) {
    switch (op.kind) {
      case 'set':
      case 'add':
        if (op.kind === 'add' && op.field === 'releases' && op.value.startsWith('/')) lookups.checkBuildTree(op.value);
        apply(state, op);
        open?.forEach((s) => apply(s, op));
        touched = true;
        break;
      case 'all-releases':
        close();
        open = lookups.installedReleases().map((r) => ({ ...cloneSpec(state), arch: '', releases: [r] }));
        break;
      case 'nickname': {
        close();
        const found = lookups.runningByNickname(op.name) ?? lookups.configuredByNickname(op.name);
        if (found) open = [{ ...cloneSpec(found), nickname: op.name }];
        else if (startLike) open = [{ ...cloneSpec(state), nickname: op.name }];
        else throw new StapFleetError('SF_UNKNOWN_NICKNAME', { nickname: op.name });
        break;
      }
      case 'pid': {
        close();
        const found = lookups.runningByPid(Number(op.pid));
        if (!found) throw new StapFleetError('SF_NO_SUCH_PID', { pid: op.pid });
        open = [cloneSpec(found)];
        break;
      }
    }
  }
  const selected = open !== undefined || done.length > 0;
  close();
  if (!selected && touched) done.push(cloneSpec(state));
  applyLists(done, parsed.lists);
  return { specs: done };
}

/** --log/--port/--ssl/--max-*: the i-th value goes to the i-th server. */
export function applyLists(specs: ServerSpec[], lists: ServerLists): void {
  specs.forEach((s, i) => {
    if (lists.log[i] !== undefined) s.log = lists.log[i]!;
    if (lists.port[i] !== undefined) s.port = lists.port[i]!;
    if (lists.ssl[i] !== undefined) s.ssl = lists.ssl[i]!;
    if (lists.maxThreads[i] !== undefined) s.maxThreads = lists.maxThreads[i]!;
    if (lists.maxRequestSize[i] !== undefined) s.maxRequestSize = lists.maxRequestSize[i]!;
    if (lists.maxCompressedRequest[i] !== undefined) s.maxCompressedRequest = lists.maxCompressedRequest[i]!;
  });
}

export function hasListValues(lists: ServerLists): boolean {
  return Object.values(lists).some((l: string[]) => l.length > 0);
}
