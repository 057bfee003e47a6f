/**
 * ServerSpec: what one compile server is, independent of where it came from (command line, conf.d,
 * a status file). Also: when two specs are "the same server", how a spec is shown (the
 * `-a "x86_64" -r "..."` style of SystemTap's script) and the optinfo string stap-serverd advertises.
 */

export interface ServerSpec {
  arch: string;
  /** Kernel releases (or absolute build-tree paths) served; one server may serve several (4.x). */
  releases: string[];
  user: string;
  build: string[];
  include: string[];
  define: string[];
  runtime: string;
  /** '' when the server has none (SystemTap then shows its pid as its nickname). */
  nickname: string;
  log: string;
  /** As configured; '' means a random free port. */
  port: string;
  /** '' means the default ~USER/.systemtap/ssl/server. */
  ssl: string;
  maxThreads: string;
  maxRequestSize: string;
  maxCompressedRequest: string;
}

export function emptySpec(): ServerSpec {
  return {
    arch: '',
    releases: [],
    user: '',
    build: [],
    include: [],
    define: [],
    runtime: '',
    nickname: '',
    log: '',
    port: '',
    ssl: '',
    maxThreads: '',
    maxRequestSize: '',
    maxCompressedRequest: '',
  };
}

export function cloneSpec(s: ServerSpec): ServerSpec {
  return { ...s, releases: [...s.releases], build: [...s.build], include: [...s.include], define: [...s.define] };
}

export interface SpecDefaults {
  arch: string;
  release: string;
  user: string;
  log: string;
}

/** Fills what the seed says defaults: host arch, running kernel, STAP_USER, LOG_FILE. */
export function withDefaults(s: ServerSpec, d: SpecDefaults): ServerSpec {
  const r = cloneSpec(s);
  if (!r.arch) r.arch = d.arch;
  if (r.releases.length === 0) r.releases = [d.release];
  if (!r.user) r.user = d.user;
  if (!r.log) r.log = d.log;
  return r;
}

const sameList = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Whether `running` is the server `wanted` describes. Every field counts and arrays are compared whole
 * (SystemTap 4.8 compares only their first element). A nickname counts when `wanted` names one, so
 * three conf.d files that differ only by NICKNAME are three servers (4.8 starts one).
 */
export function sameServer(wanted: ServerSpec, running: ServerSpec): boolean {
  return (
    wanted.arch === running.arch &&
    sameList(wanted.releases, running.releases) &&
    sameList(wanted.include, running.include) &&
    wanted.runtime === running.runtime &&
    sameList(wanted.build, running.build) &&
    sameList(wanted.define, running.define) &&
    wanted.user === running.user &&
    wanted.log === running.log &&
    wanted.port === running.port &&
    wanted.ssl === running.ssl &&
    wanted.maxThreads === running.maxThreads &&
    wanted.maxRequestSize === running.maxRequestSize &&
    wanted.maxCompressedRequest === running.maxCompressedRequest &&
    (wanted.nickname === '' || wanted.nickname === running.nickname)
  );
}

const q = (v: string): string => `"${v}"`;

/**
 * The options text of SystemTap's script: -a, -r…, -R, -D…, -I…, -B…, -u, -n, --log, then --port,
 * --ssl and --max-* when set. `nickname` overrides the spec's (status shows the pid when there is none).
 */
export function describeSpec(s: ServerSpec, nickname: string = s.nickname): string {
  const parts: string[] = [`-a ${q(s.arch)}`];
  for (const r of s.releases) parts.push(`-r ${q(r)}`);
  if (s.runtime) parts.push(`-R ${q(s.runtime)}`);
  for (const d of s.define) parts.push(`-D ${q(d)}`);
  for (const i of s.include) parts.push(`-I ${q(i)}`);
  for (const b of s.build) parts.push(`-B ${q(b)}`);
  parts.push(`-u ${q(s.user)}`);
  if (nickname) parts.push(`-n ${q(nickname)}`);
  parts.push(`--log ${q(s.log)}`);
  if (s.port) parts.push(`--port ${q(s.port)}`);
  if (s.ssl) parts.push(`--ssl ${q(s.ssl)}`);
  if (s.maxThreads) parts.push(`--max-threads ${q(s.maxThreads)}`);
  if (s.maxRequestSize) parts.push(`--max-request-size ${q(s.maxRequestSize)}`);
  if (s.maxCompressedRequest) parts.push(`--max-compressed-request ${q(s.maxCompressedRequest)}`);
  return parts.join(' ');
}

/** stap-serverd's TXT optinfo: its -R -B -D -I options as -Xvalue, space-joined. */
export function optinfo(s: ServerSpec): string {
  return [
    ...(s.runtime ? [`-R${s.runtime}`] : []),
    ...s.build.map((b) => `-B${b}`),
    ...s.define.map((d) => `-D${d}`),
    ...s.include.map((i) => `-I${i}`),
  ].join(' ');
}

/** The stap-serverd argument vector for a spec (releases already resolved to what the daemon serves). */
export function serverdArgs(s: ServerSpec, sslDir: string): string[] {
  const a: string[] = ['-a', s.arch];
  for (const r of s.releases) a.push('-r', r);
  for (const b of s.build) a.push('-B', b);
  for (const i of s.include) a.push('-I', i);
  for (const d of s.define) a.push('-D', d);
  if (s.runtime) a.push('-R', s.runtime);
  a.push('--log', s.log, '--ssl', sslDir);
  if (s.port) a.push('--port', s.port);
  if (s.maxThreads) a.push('--max-threads', s.maxThreads);
  if (s.maxRequestSize) a.push('--max-request-size', s.maxRequestSize);
  if (s.maxCompressedRequest) a.push('--max-compressed-request', s.maxCompressedRequest);
  return a;
}
