/**
 * After start, the advertising agent (src/local/agent, another part of the project) must run so the
 * new servers are announced over mDNS. Optional: STAP_FLEET_AGENT=off skips it, and a build without
 * the agent leaves `start` working.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface AgentHookOptions {
  statPath: string;
  logFile: string;
}

export async function ensureAgent(opts: AgentHookOptions): Promise<string | undefined> {
  const url = new URL('../agent/launch.js', import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  try {
    const mod = (await import(url.href)) as { ensureAgentRunning?: (o: unknown) => Promise<unknown> };
    if (typeof mod.ensureAgentRunning !== 'function') return undefined;
    await mod.ensureAgentRunning(opts);
    return undefined;
  } catch (err) {
    return `stap-server: warning: could not start the advertising agent: ${(err as Error).message}`;
  }
}
