/**
 * stap-serverd's command line (SystemTap 4.8's options, both `--opt=v` and `--opt v`, `-rREL` and
 * `-r REL`), plus our own additions, into one typed ServerdOptions object. Pure: no side effects.
 */
import { Command, CommanderError, Option } from 'commander';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { StapFleetError } from '../../errors.js';

export interface ServerdOptions {
  arch?: string;
  releases: string[];
  build: string[];
  include: string[];
  define: string[];
  runtime?: string;
  /** The -a -B -D -I -R options as stap words, in command-line order (what each stap run gets). */
  stapOptions: string[];
  keepTemp: boolean;
  port: number;
  sslDir: string;
  log?: string;
  maxThreads: number;
  /** Uncompressed request size limit in bytes. */
  maxRequestSize: number;
  /** Compressed (on the wire) request size limit in bytes. */
  maxCompressedRequest: number;
  /** The stap executable run for each request. */
  stap: string;
  /** Parent of the per-request temporary directories. */
  tmpDir?: string;
  /** Seconds a client may take to send its whole request before it is dropped. */
  requestTimeoutSec: number;
  /** Seconds one stap run may take before it is killed. */
  compileTimeoutSec: number;
  /** Add stap.cert to the server user's client trust database with certutil (as stap-serverd does). */
  trustSelf: boolean;
  /** Ask glibc to back stap's heap with transparent huge pages (GLIBC_TUNABLES glibc.malloc.hugetlb=1). */
  hugePages: boolean;
  /** Identical-request cache: entries (0 = off) and seconds an answer stays valid. */
  responseCacheEntries: number;
  responseCacheTtlSec: number;
}

/**
 * stap-serverd 4.8 defaults to 5000 compressed / 50000 uncompressed bytes, which silently drops any
 * real request that carries a tapset directory (reference §6). Ours are large enough for real work
 * and still bound a hostile client.
 */
export const DEFAULT_MAX_COMPRESSED_REQUEST = 16 * 1024 * 1024;
export const DEFAULT_MAX_REQUEST_SIZE = 128 * 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_SEC = 30;
export const DEFAULT_COMPILE_TIMEOUT_SEC = 900;
export const DEFAULT_RESPONSE_CACHE_ENTRIES = 256;
export const DEFAULT_RESPONSE_CACHE_TTL_SEC = 600;
export const RESPONSE_CACHE_MAX_BYTES = 64 * 1024 * 1024;

function parseNumber(flag: string, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) > max) {
      throw new StapFleetError('SF_USAGE', { detail: `cannot parse number '--${flag}=${value}'` });
    }
    return Number(value);
  };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function defaultSslDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SYSTEMTAP_DIR) return join(env.SYSTEMTAP_DIR, 'ssl', 'server');
  return join(env.HOME || homedir(), '.systemtap', 'ssl', 'server');
}

export function buildCommand(stapOptions: string[] = []): Command {
  // Each parser runs once per occurrence, in command-line order, which is the order stap gets them.
  const ordered = (words: (v: string) => string[]) => (value: string, previous: string[]): string[] => {
    stapOptions.push(...words(value));
    return [...previous, value];
  };
  return new Command('stap-serverd')
    .description("SystemTap compile server daemon (stap-fleet's replacement for SystemTap 4.8's stap-serverd)")
    .option('-a <arch>', 'target architecture passed to each stap run', (v: string) => (stapOptions.push('-a', v), v))
    .option('-r <release>', 'kernel release (or absolute build tree) served; repeatable', collect, [])
    .option('-B <option>', 'kbuild option passed to each stap run; repeatable', ordered((v) => [`-B${v}`]), [])
    .option('-I <dir>', 'tapset directory passed to each stap run; repeatable', ordered((v) => [`-I${v}`]), [])
    .option('-D <define>', 'macro definition passed to each stap run; repeatable', ordered((v) => [`-D${v}`]), [])
    .option('-R <dir>', 'runtime directory passed to each stap run', (v: string) => (stapOptions.push(`-R${v}`), v))
    .option('-k', 'keep the temporary request/response directories')
    .option('-P', 'ignored (stap-serverd asks for an NSS password; our key file has none)')
    .option('--port <n>', 'TCP port (0 or absent: a random free port)', parseNumber('port', 65535), 0)
    .option('--ssl <dir>', 'directory of stap.cert/stap.key (default $SYSTEMTAP_DIR/ssl/server or ~/.systemtap/ssl/server)')
    .option('--log <file>', 'append log lines to this file (default: stderr)')
    .option('--max-threads <n>', 'requests compiled at once (default: CPU count; 0 = one at a time)', parseNumber('max-threads', 1_000_000))
    .option('--max-request-size <bytes>', `largest uncompressed request (default ${DEFAULT_MAX_REQUEST_SIZE})`, parseNumber('max-request-size', Number.MAX_SAFE_INTEGER), DEFAULT_MAX_REQUEST_SIZE)
    .option('--max-compressed-request <bytes>', `largest request on the wire (default ${DEFAULT_MAX_COMPRESSED_REQUEST})`, parseNumber('max-compressed-request', 0x7fffffff), DEFAULT_MAX_COMPRESSED_REQUEST)
    .addOption(new Option('--stap <path>', 'stap executable run per request').env('SYSTEMTAP_STAP').default('/usr/bin/stap'))
    .addOption(new Option('--tmpdir <dir>', 'parent of the per-request temporary directories (default $TMPDIR or /tmp)'))
    .option('--request-timeout <sec>', 'seconds a client may take to send its request', parseNumber('request-timeout', 86400), DEFAULT_REQUEST_TIMEOUT_SEC)
    .option('--compile-timeout <sec>', 'seconds one stap run may take', parseNumber('compile-timeout', 86400 * 7), DEFAULT_COMPILE_TIMEOUT_SEC)
    .option('--no-trust-self', "do not add stap.cert to the server user's client trust database")
    .option('--no-huge-pages', "run stap without GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (transparent huge pages for its heap)")
    .option('--response-cache <n>', 'answers of identical requests kept (0 = off)', parseNumber('response-cache', 100_000), DEFAULT_RESPONSE_CACHE_ENTRIES)
    .option('--response-cache-ttl <sec>', 'seconds a cached answer stays valid', parseNumber('response-cache-ttl', 86400 * 30), DEFAULT_RESPONSE_CACHE_TTL_SEC)
    .helpOption('-h, --help', 'display help')
    .addHelpText('after', `
Readiness: when fd 3 is open, one line "READY port=<n> certinfo=<xx:..>" (or "ERROR <why>") is written there.
Exit codes: 0 after SIGTERM/SIGINT/SIGHUP, 1 on any failure before it is ready.

Examples:
  stap-serverd -r 6.1.0-56-amd64 --port 5001 --log /var/log/stap-server/log
  stap-serverd -r 6.1.0-56-amd64 -r 6.1.0-47-amd64 --max-threads 4    # one server, two releases
  SYSTEMTAP_STAP=/opt/stap/bin/stap stap-serverd -I /srv/tapsets --ssl /srv/stap/ssl
  (normally started by 'stap-server start', which runs it as the stap-server user)`)
    .allowExcessArguments(false)
    .exitOverride();
}

export type ParseResult = { kind: 'options'; options: ServerdOptions } | { kind: 'exit'; exitCode: number };

/** Parses argv (without node and script). Throws StapFleetError('SF_USAGE') on bad input. */
export function parseServerdArgs(argv: string[], env: NodeJS.ProcessEnv = process.env, out?: { write: (s: string) => void; err: (s: string) => void }): ParseResult {
  const stapOptions: string[] = [];
  const cmd = buildCommand(stapOptions);
  // Errors are reported once, by the caller, from the StapFleetError we throw.
  cmd.configureOutput({ outputError: () => undefined, ...(out ? { writeOut: out.write, writeErr: out.err } : {}) });
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof StapFleetError) throw err;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return { kind: 'exit', exitCode: 0 };
      const cause = (err as { nestedError?: unknown }).nestedError;
      if (cause instanceof StapFleetError) throw cause;
      throw new StapFleetError('SF_USAGE', { detail: err.message.replace(/^error: /, '') });
    }
    throw err;
  }
  const o = cmd.opts<Record<string, unknown>>();
  const stapFromEnv = env.SYSTEMTAP_STAP;
  const options: ServerdOptions = {
    arch: o.a as string | undefined,
    releases: o.r as string[],
    build: o.B as string[],
    include: o.I as string[],
    define: o.D as string[],
    runtime: o.R as string | undefined,
    stapOptions,
    keepTemp: Boolean(o.k),
    port: o.port as number,
    sslDir: (o.ssl as string | undefined) ?? defaultSslDir(env),
    log: o.log as string | undefined,
    maxThreads: (o.maxThreads as number | undefined) ?? availableParallelism(),
    maxRequestSize: o.maxRequestSize as number,
    maxCompressedRequest: o.maxCompressedRequest as number,
    stap: (cmd.getOptionValueSource('stap') === 'cli' ? (o.stap as string) : stapFromEnv) || '/usr/bin/stap',
    tmpDir: (o.tmpdir as string | undefined) ?? env.TMPDIR,
    requestTimeoutSec: o.requestTimeout as number,
    compileTimeoutSec: o.compileTimeout as number,
    trustSelf: o.trustSelf !== false,
    hugePages: o.hugePages !== false,
    responseCacheEntries: o.responseCache as number,
    responseCacheTtlSec: o.responseCacheTtl as number,
  };
  return { kind: 'options', options };
}
