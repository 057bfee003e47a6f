/**
 * stap-server's config files, parsed (never executed): the global file and CONFIG_PATH/*.conf.
 * Grammar and decisions: docs/config.md.
 */
export { type ConfigDeps, defaultConfigDeps, passwdHomeLookup, readConfigFile } from './deps.js';
export {
  DEFAULT_GLOBAL,
  DEFAULT_GLOBAL_FILE,
  type GlobalConfig,
  type GlobalConfigFile,
  loadGlobalConfig,
  parseGlobalConfig,
} from './global.js';
export { CONFIG_LIMITS } from './limits.js';
export {
  GLOBAL_SCHEMA,
  GLOBAL_VARIABLES,
  type GlobalVariable,
  SERVER_SCHEMA,
  SERVER_VARIABLES,
  type ServerVariable,
} from './schema.js';
export { type ServerConfig, listServerConfigFiles, loadServerConfig, loadServerConfigs, parseServerConfig } from './server.js';
