/**
 * The agent's state file, STAT_PATH/.stap-agent.json, written atomically (temp + rename) whenever what is
 * advertised changes; `stap-agent status` reads it. Also the pid file STAT_PATH/.stap-agent.pid. Both are dot-files:
 * SystemTap 4.8's stap-server takes every visible name in STAT_PATH for a server.
 */
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendKind, PublishedService } from './backend.js';
import type { IgnoredServer } from './model.js';

export interface AgentState {
  pid: number;
  version: string;
  hostname: string;
  startedAt: string;
  updatedAt: string;
  statPath: string;
  backend: BackendKind;
  /** Why this backend: 'configured', 'avahi-daemon running (pid N)', 'no avahi-daemon', ... */
  backendReason: string;
  avahiServicesDir: string;
  interfaces: string[];
  services: PublishedService[];
  ignored: IgnoredServer[];
  errors: string[];
}

export function stateFile(statPath: string): string {
  return join(statPath, '.stap-agent.json');
}

export function pidFile(statPath: string): string {
  return join(statPath, '.stap-agent.pid');
}

/** Default log of an agent started without an explicit log file (hidden, for the same reason). */
export function defaultLogFile(statPath: string): string {
  return join(statPath, '.stap-agent.log');
}

export function writeState(statPath: string, state: AgentState): void {
  const file = stateFile(statPath);
  const tmp = join(statPath, `.stap-agent.json.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  chmodSync(tmp, 0o644); // readable by non-root `stap-agent status` whatever the umask
  renameSync(tmp, file);
}

export function readState(statPath: string): AgentState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(statPath), 'utf8')) as AgentState;
  } catch {
    return undefined;
  }
}
