/**
 * The global config file (/etc/sysconfig/stap-server, then the -c file): CONFIG_PATH, STAT_PATH,
 * LOG_FILE, STAP_USER. Empty values keep the previous value (SystemTap does the same).
 */
import { StapFleetError } from '../../errors.js';
import { resolveDeps, type ConfigDeps, type ResolvedDeps } from './deps.js';
import { evaluateConfig } from './evaluate.js';
import { GLOBAL_SCHEMA, GLOBAL_VARIABLES } from './schema.js';
import { decodeConfig } from './text.js';

export interface GlobalConfig {
  CONFIG_PATH: string;
  STAT_PATH: string;
  LOG_FILE: string;
  STAP_USER: string;
}

export const DEFAULT_GLOBAL_FILE = '/etc/sysconfig/stap-server';

export const DEFAULT_GLOBAL: GlobalConfig = Object.freeze({
  CONFIG_PATH: '/etc/stap-server/conf.d',
  STAT_PATH: '/var/run/stap-server',
  LOG_FILE: '/var/log/stap-server/log',
  STAP_USER: 'stap-server',
});

/** A global file to load; `optional` files may be missing (the default file is). */
export type GlobalConfigFile = string | { readonly path: string; readonly optional?: boolean };

/**
 * Loads the global files in order, each on top of the previous result. A plain string at index 0
 * (the default file) may be missing; later plain strings (the -c file) must exist.
 * Inside a file, $CONFIG_PATH, $STAT_PATH, $LOG_FILE and $STAP_USER are the values so far.
 */
export function loadGlobalConfig(files: GlobalConfigFile[], base: GlobalConfig = DEFAULT_GLOBAL, deps?: ConfigDeps): GlobalConfig {
  const resolved = resolveDeps(deps);
  let config: GlobalConfig = { ...base };
  files.forEach((entry, index) => {
    const path = typeof entry === 'string' ? entry : entry.path;
    const optional = typeof entry === 'string' ? index === 0 : entry.optional === true;
    const bytes = readOrMissing(path, optional, resolved);
    if (bytes === undefined) return;
    config = parseGlobalConfigText(decodeConfig(bytes, path), path, config, resolved);
  });
  return config;
}

/** Parses the text of one global file on top of `base`. */
export function parseGlobalConfig(text: string, file: string, base: GlobalConfig = DEFAULT_GLOBAL, deps?: ConfigDeps): GlobalConfig {
  return parseGlobalConfigText(text, file, base, resolveDeps(deps));
}

function parseGlobalConfigText(text: string, file: string, base: GlobalConfig, deps: ResolvedDeps): GlobalConfig {
  const state = evaluateConfig(text, {
    file,
    schema: GLOBAL_SCHEMA,
    kindLabel: 'global config file',
    initial: { ...base },
    emptyKeepsPrevious: true,
    homeOf: deps.homeOf,
    homeDir: deps.homeDir,
  });
  const result = { ...base };
  for (const name of GLOBAL_VARIABLES) result[name] = state.scalars.get(name) ?? base[name];
  return result;
}

/** Shared with server.ts: read a file, mapping a missing optional file to undefined. */
export function readOrMissing(path: string, optional: boolean, deps: ResolvedDeps): Buffer | undefined {
  try {
    return deps.readFile(path);
  } catch (err) {
    if (err instanceof StapFleetError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && optional) return undefined;
    const detail = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new StapFleetError('SF_CONFIG_READ', { file: path, detail }, { cause: err });
  }
}
