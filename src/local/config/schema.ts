/**
 * The variables each kind of config file may set, whether each is a single value or an array
 * (`+=` appends), what it means, and how each value is checked.
 */

export type VariableKind = 'scalar' | 'array';

export interface VariableSpec {
  readonly kind: VariableKind;
  /** One line for docs and error messages. */
  readonly meaning: string;
  /** Error detail for a bad (non-empty) value, or undefined when it is fine. */
  check?(value: string): string | undefined;
  /** Canonical form stored in the result (e.g. "05001" -> "5001"). */
  normalize?(value: string): string;
}

export type Schema = Readonly<Record<string, VariableSpec>>;

const absolutePath =
  (name: string) =>
  (value: string): string | undefined =>
    value.startsWith('/') ? undefined : `${name} must be an absolute path, not '${value}'`;

const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/;
const userName =
  (name: string) =>
  (value: string): string | undefined =>
    USER_NAME.test(value) ? undefined : `${name} '${value}' is not a valid user name`;

const integer = (name: string, min: number, max: number) => ({
  check: (value: string): string | undefined =>
    /^[0-9]{1,10}$/.test(value) && Number(value) >= min && Number(value) <= max
      ? undefined
      : `${name} must be an integer from ${min} to ${max}, not '${value}'`,
  normalize: (value: string): string => String(Number(value)),
});

export const GLOBAL_SCHEMA = {
  CONFIG_PATH: { kind: 'scalar', meaning: 'directory of the per-server *.conf files', check: absolutePath('CONFIG_PATH') },
  STAT_PATH: { kind: 'scalar', meaning: 'directory of the status files of running servers', check: absolutePath('STAT_PATH') },
  LOG_FILE: { kind: 'scalar', meaning: 'log file of the service and default LOG of servers', check: absolutePath('LOG_FILE') },
  STAP_USER: { kind: 'scalar', meaning: 'user that runs the servers by default', check: userName('STAP_USER') },
} as const satisfies Schema;

export const SERVER_SCHEMA = {
  ARCH: {
    kind: 'scalar',
    meaning: 'target architecture (stap -a); empty: the host architecture',
    check: (v: string) => (/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(v) ? undefined : `ARCH '${v}' is not an architecture name`),
  },
  RELEASE: {
    kind: 'array',
    meaning: 'kernel releases or absolute build-tree paths (stap -r); empty: the running kernel',
    check: (v: string) =>
      v.startsWith('/') || /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/.test(v)
        ? undefined
        : `RELEASE '${v}' is neither a kernel release name nor an absolute path to a build tree`,
  },
  BUILD: { kind: 'array', meaning: "options passed to 'make' when building modules (stap -B)" },
  INCLUDE: { kind: 'array', meaning: 'extra tapset directories (stap -I)', check: absolutePath('INCLUDE') },
  RUNTIME: { kind: 'scalar', meaning: 'runtime directory (stap -R)', check: absolutePath('RUNTIME') },
  DEFINE: {
    kind: 'array',
    meaning: 'macro definitions MACRO[=value] (stap -D)',
    check: (v: string) =>
      /^[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_, ]*\))?(=.*)?$/s.test(v) ? undefined : `DEFINE '${v}' is not MACRO or MACRO=value`,
  },
  USER: { kind: 'scalar', meaning: 'user that runs this server; empty: STAP_USER', check: userName('USER') },
  NICKNAME: { kind: 'scalar', meaning: 'name to refer to this server (-n); empty: its pid' },
  LOG: { kind: 'scalar', meaning: "this server's log file; empty: LOG_FILE", check: absolutePath('LOG') },
  PORT: { kind: 'scalar', meaning: 'TCP port; empty or 0: a random free port', ...integer('PORT', 0, 65535) },
  SSL: { kind: 'scalar', meaning: 'certificate directory; empty: ~USER/.systemtap/ssl/server', check: absolutePath('SSL') },
  MAXTHREADS: { kind: 'scalar', meaning: 'worker threads (0 = serial); empty: the number of CPUs', ...integer('MAXTHREADS', 0, 1024) },
  MAXREQSIZE: {
    kind: 'scalar',
    meaning: 'largest uncompressed request, bytes; empty: 50000',
    ...integer('MAXREQSIZE', 1, 2147483647),
  },
  MAXCOMPRESSEDREQ: {
    kind: 'scalar',
    meaning: 'largest compressed request, bytes; empty: 5000',
    ...integer('MAXCOMPRESSEDREQ', 1, 2147483647),
  },
} as const satisfies Schema;

export type GlobalVariable = keyof typeof GLOBAL_SCHEMA;
export type ServerVariable = keyof typeof SERVER_SCHEMA;
export const GLOBAL_VARIABLES = Object.keys(GLOBAL_SCHEMA) as GlobalVariable[];
export const SERVER_VARIABLES = Object.keys(SERVER_SCHEMA) as ServerVariable[];
