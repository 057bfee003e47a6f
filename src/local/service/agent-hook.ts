/**
 * After start, the advertising agent (src/local/agent) must run so the new servers are announced over
 * mDNS; STAP_FLEET_AGENT=off skips it. Loaded lazily: status and stop never need the agent's code.
 */

export interface AgentHookOptions {
  statPath: string;
  logFile: string;
}

export async function ensureAgent(opts: AgentHookOptions): Promise<string | undefined> {
  try {
    const { ensureAgentRunning } = await import('../agent/launch.js');
    await ensureAgentRunning(opts);
    return undefined;
  } catch (err) {
    return `stap-server: warning: could not start the advertising agent: ${(err as Error).message}`;
  }
}
