/**
 * Where the service's settings come from: the environment (path overrides for tests and packagers),
 * the global config file(s) and conf.d, read through the config parser (src/local/config), which
 * parses and never executes them.
 */
import { existsSync } from 'node:fs';
import { binPath, installRoot } from '../../paths.js';
import { DEFAULT_GLOBAL, loadGlobalConfig, loadServerConfigs, type GlobalConfigFile, type ServerConfig } from '../config/index.js';
import { emptySpec, type ServerSpec } from '../spec.js';

export const DEFAULTS = {
  CONFIG_FILE: '/etc/sysconfig/stap-server',
  CONFIG_PATH: '/etc/stap-server/conf.d',
  STAT_PATH: '/var/run/stap-server',
  LOG_FILE: '/var/log/stap-server/log',
  STAP_USER: 'stap-server',
  MODULES_DIR: '/lib/modules',
} as const;

export interface GlobalSettings {
  /** The files read, in order (default file, then the last -c file). */
  files: string[];
  configPath: string;
  statPath: string;
  logFile: string;
  stapUser: string;
}

export interface ConfiguredServer {
  file: string;
  spec: ServerSpec;
}

export interface Environment {
  /** env STAP_SERVER_CONFIG_FILE: the default global config file. */
  configFile: string;
  /** env STAP_SERVER_MODULES_DIR: what -i lists (default /lib/modules). */
  modulesDir: string;
  /** env STAP_FLEET_SERVERD: the daemon script (default dist/bin/stap-serverd.js of this install). */
  serverdPath: string;
  /** env STAP_SERVER_START_TIMEOUT_MS: bound on waiting for a daemon's READY line. */
  startTimeoutMs: number;
  /** env STAP_SERVER_STOP_TIMEOUT_MS: bound on waiting for a daemon to exit after SIGTERM (then SIGKILL). */
  stopTimeoutMs: number;
  /** env STAP_FLEET_AGENT=off: do not ensure the advertising agent runs after start. */
  agent: boolean;
}

const num = (v: string | undefined, d: number): number => (v && /^\d+$/.test(v) ? Number(v) : d);

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  return {
    configFile: env.STAP_SERVER_CONFIG_FILE || DEFAULTS.CONFIG_FILE,
    modulesDir: env.STAP_SERVER_MODULES_DIR || DEFAULTS.MODULES_DIR,
    serverdPath: env.STAP_FLEET_SERVERD || defaultServerdPath(),
    startTimeoutMs: num(env.STAP_SERVER_START_TIMEOUT_MS, 20_000),
    stopTimeoutMs: num(env.STAP_SERVER_STOP_TIMEOUT_MS, 10_000),
    agent: env.STAP_FLEET_AGENT !== 'off',
  };
}

/** dist/bin/stap-serverd.js of this install. */
export function defaultServerdPath(): string {
  return binPath('stap-serverd');
}

export { installRoot };

/** Global settings: defaults, then the default file (may be missing), then the -c file (must exist). */
export function loadGlobalSettings(defaultFile: string, extraFile?: string): GlobalSettings {
  const files: GlobalConfigFile[] = [{ path: defaultFile, optional: true }, ...(extraFile ? [{ path: extraFile }] : [])];
  const g = loadGlobalConfig(files, { ...DEFAULT_GLOBAL });
  return {
    files: [defaultFile, ...(extraFile ? [extraFile] : [])].filter((f) => existsSync(f)),
    configPath: g.CONFIG_PATH,
    statPath: g.STAT_PATH,
    logFile: g.LOG_FILE,
    stapUser: g.STAP_USER,
  };
}

/** One spec per CONFIG_PATH/*.conf, in file-name order; unset values are left for the defaults. */
export function loadConfiguredServers(g: GlobalSettings): ConfiguredServer[] {
  const vars = { CONFIG_PATH: g.configPath, STAT_PATH: g.statPath, LOG_FILE: g.logFile, STAP_USER: g.stapUser };
  return loadServerConfigs(g.configPath, vars).map((c) => ({ file: c.file, spec: specOfConfig(c) }));
}

export function specOfConfig(c: ServerConfig): ServerSpec {
  return {
    ...emptySpec(),
    arch: c.ARCH ?? '',
    releases: [...(c.RELEASE ?? [])],
    build: [...c.BUILD],
    include: [...c.INCLUDE],
    define: [...c.DEFINE],
    runtime: c.RUNTIME ?? '',
    user: c.USER ?? '',
    nickname: c.NICKNAME ?? '',
    log: c.LOG ?? '',
    port: c.PORT ?? '',
    ssl: c.SSL ?? '',
    maxThreads: c.MAXTHREADS ?? '',
    maxRequestSize: c.MAXREQSIZE ?? '',
    maxCompressedRequest: c.MAXCOMPRESSEDREQ ?? '',
  };
}
