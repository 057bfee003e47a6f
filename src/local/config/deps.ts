/**
 * The outside world of the config parser, injectable so that unit tests can fake it: home
 * directories for `~user`, and reading a file. The defaults read /etc/passwd and the file system;
 * they never run a program (no getent: the parser must never spawn a process).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { userInfo } from 'node:os';
import { StapFleetError } from '../../errors.js';
import { CONFIG_LIMITS } from './limits.js';

export interface ConfigDeps {
  /** Home directory of a user (for `~user`), undefined if there is no such user. */
  homeOf(user: string): string | undefined;
  /** Reads a config file; errors carry Node's `code` (ENOENT means missing). */
  readFile?(path: string): Buffer;
  /** Home directory for a bare `~` (bash uses $HOME). Default: $HOME, else the current user's home. */
  homeDir?(): string | undefined;
}

export type ResolvedDeps = Required<ConfigDeps>;

/** Home directories from a passwd(5) file (field 6 of the line whose field 1 is the user). */
export function passwdHomeLookup(passwdFile = '/etc/passwd'): (user: string) => string | undefined {
  return (user) => {
    let text: string;
    try {
      text = readFileSync(passwdFile, 'utf8');
    } catch {
      return undefined;
    }
    for (const line of text.split('\n')) {
      const fields = line.split(':');
      if (fields.length >= 7 && fields[0] === user) return fields[5] || undefined;
    }
    return undefined;
  };
}

/**
 * Reads at most maxFileBytes + 1 bytes of a regular file. Opening non-blocking keeps a FIFO from
 * hanging us; fstat refuses devices (/dev/zero), directories and sockets before reading.
 */
export function readConfigFile(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    if (!fstatSync(fd).isFile()) throw new StapFleetError('SF_CONFIG_READ', { file: path, detail: 'not a regular file' });
    const buffer = Buffer.alloc(CONFIG_LIMITS.maxFileBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

function defaultHomeDir(homeOf: (user: string) => string | undefined): () => string | undefined {
  return () => {
    const fromEnv = process.env.HOME;
    if (fromEnv) return fromEnv;
    try {
      return homeOf(userInfo().username);
    } catch {
      return undefined;
    }
  };
}

export const defaultConfigDeps: ResolvedDeps = {
  homeOf: passwdHomeLookup(),
  readFile: readConfigFile,
  homeDir: defaultHomeDir(passwdHomeLookup()),
};

export function resolveDeps(deps?: ConfigDeps): ResolvedDeps {
  if (!deps) return defaultConfigDeps;
  return {
    homeOf: deps.homeOf,
    readFile: deps.readFile ?? readConfigFile,
    homeDir: deps.homeDir ?? defaultHomeDir(deps.homeOf),
  };
}
