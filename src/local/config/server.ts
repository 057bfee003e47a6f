/**
 * Per-server config files, CONFIG_PATH/*.conf: one server each, sorted by file name.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StapFleetError } from '../../errors.js';
import { resolveDeps, type ConfigDeps, type ResolvedDeps } from './deps.js';
import { evaluateConfig } from './evaluate.js';
import { readOrMissing } from './global.js';
import { CONFIG_LIMITS } from './limits.js';
import { SERVER_SCHEMA, type ServerVariable } from './schema.js';
import { decodeConfig } from './text.js';

/**
 * One server's configuration. An absent optional field means "default" (parsing never leaves ''):
 * ARCH the host's, RELEASE the running kernel, USER STAP_USER, LOG LOG_FILE, PORT random, and so on.
 */
export interface ServerConfig {
  file: string;
  ARCH?: string;
  RELEASE?: string[];
  BUILD: string[];
  INCLUDE: string[];
  DEFINE: string[];
  RUNTIME?: string;
  USER?: string;
  NICKNAME?: string;
  LOG?: string;
  PORT?: string;
  SSL?: string;
  MAXTHREADS?: string;
  MAXREQSIZE?: string;
  MAXCOMPRESSEDREQ?: string;
  /** Line of the last assignment of each variable, for `file:line` messages about values (e.g. an unknown USER). */
  lines: Partial<Record<ServerVariable, number>>;
}

const OPTIONAL_SCALARS = ['ARCH', 'RUNTIME', 'USER', 'NICKNAME', 'LOG', 'PORT', 'SSL', 'MAXTHREADS', 'MAXREQSIZE', 'MAXCOMPRESSEDREQ'] as const;

/** Parses one server config file's text. `vars` (e.g. the global variables) are visible as $NAME. */
export function parseServerConfig(text: string, file: string, vars: Record<string, string> = {}, deps?: ConfigDeps): ServerConfig {
  return parseServerText(text, file, vars, resolveDeps(deps));
}

function parseServerText(text: string, file: string, vars: Record<string, string>, deps: ResolvedDeps): ServerConfig {
  const state = evaluateConfig(text, {
    file,
    schema: SERVER_SCHEMA,
    kindLabel: 'server config file',
    vars,
    homeOf: deps.homeOf,
    homeDir: deps.homeDir,
  });
  const config: ServerConfig = {
    file,
    BUILD: state.arrays.get('BUILD') ?? [],
    INCLUDE: state.arrays.get('INCLUDE') ?? [],
    DEFINE: state.arrays.get('DEFINE') ?? [],
    lines: Object.fromEntries(state.lines) as ServerConfig['lines'],
  };
  const releases = state.arrays.get('RELEASE');
  if (releases && releases.length > 0) config.RELEASE = releases;
  for (const name of OPTIONAL_SCALARS) {
    const value = state.scalars.get(name);
    if (value) config[name] = value;
  }
  return config;
}

/** Reads and parses one server config file (which must exist). */
export function loadServerConfig(path: string, vars: Record<string, string> = {}, deps?: ConfigDeps): ServerConfig {
  const resolved = resolveDeps(deps);
  const bytes = readOrMissing(path, false, resolved)!;
  return parseServerText(decodeConfig(bytes, path), path, vars, resolved);
}

/**
 * All `dir/*.conf` regular files (not dot-files, like bash's glob), sorted by name in code-point
 * order (bash in the C locale). A missing directory means no configured servers.
 */
export function loadServerConfigs(dir: string, vars: Record<string, string> = {}, deps?: ConfigDeps): ServerConfig[] {
  const resolved = resolveDeps(deps);
  return listServerConfigFiles(dir).map((path) => parseServerText(decodeConfig(readOrMissing(path, false, resolved)!, path), path, vars, resolved));
}

export function listServerConfigFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    const detail = code === 'ENOTDIR' ? 'not a directory' : (err as Error).message;
    throw new StapFleetError('SF_CONFIG_READ', { file: dir, detail }, { cause: err });
  }
  const confs = names
    .filter((name) => name.endsWith('.conf') && !name.startsWith('.'))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => join(dir, name))
    .filter(isRegularFile);
  if (confs.length > CONFIG_LIMITS.maxConfFiles) {
    throw new StapFleetError('SF_CONFIG_READ', { file: dir, detail: `more than ${CONFIG_LIMITS.maxConfFiles} *.conf files` });
  }
  return confs;
}

/** Directories named x.conf and dangling symlinks are skipped, as SystemTap's `[ -f ]` test does. */
function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
