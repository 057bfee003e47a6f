/** ensureAgentRunning and the stap-agent CLI's lifecycle, run inside a LAN host (the agent multicasts). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { createLan, waitFor, type Lan, type LanHost } from '../../lan/index.js';
import { AGENT_VERSION, ROOT, STAP_AGENT, agentStatus } from './helpers.js';

const ensureScript = `import { ensureAgentRunning } from '${ROOT}/dist/lib/local/agent/launch.js';
console.log(JSON.stringify(await ensureAgentRunning({ statPath: '/var/run/stap-server', logFile: '/var/log/stap-server/log' })));`;

describe('stap-agent lifecycle', () => {
  let lan: Lan;
  let h1: LanHost;
  beforeAll(async () => {
    lan = await createLan({ hosts: 2, tag: 'agl' });
    h1 = lan.hosts[0]!;
  });
  afterAll(async () => {
    await lan?.destroy();
  });

  const ensure = async (env: Record<string, string> = {}): Promise<{ pid: number; started: boolean; disabled?: boolean }> => {
    const r = await h1.exec(['node', '--input-type=module', '-e', ensureScript], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { pid: number; started: boolean; disabled?: boolean };
  };

  it('ensureAgentRunning starts one agent, then finds it; STAP_FLEET_AGENT=off disables it', async () => {
    expect(await ensure({ STAP_FLEET_AGENT: 'off' })).toEqual({ pid: 0, started: false, disabled: true });
    expect((await agentStatus(h1)).exitCode).toBe(3);
    const a = await ensure();
    expect(a.started).toBe(true);
    const b = await ensure();
    expect(b).toEqual({ pid: a.pid, started: false });
    // It logs next to the service's LOG_FILE.
    expect(existsSync(h1.path('/var/log/stap-server/stap-agent.log'))).toBe(true);
    const st = JSON.parse((await agentStatus(h1)).stdout) as { running: boolean; pid: number; state: { pid: number; hostname: string } };
    expect(st).toMatchObject({ running: true, pid: a.pid, state: { pid: a.pid, hostname: 'h1' } });
  });

  it('refuses a second agent for the same STAT_PATH', async () => {
    const r = await h1.exec(['node', STAP_AGENT, 'run'], { timeoutMs: 10_000 });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/stap-agent already runs as pid \d+ for \/var\/run\/stap-server/);
    const s = await h1.exec(['node', STAP_AGENT, 'start']);
    expect(s.stdout).toMatch(/already running/);
  });

  it('after kill -9 status reports a stale pid file (1) and ensureAgentRunning starts a new agent', async () => {
    const st = JSON.parse((await agentStatus(h1)).stdout) as { pid: number };
    process.kill(st.pid, 'SIGKILL');
    // Dead (or a zombie waiting for a late reaper) within a bounded wait; status then sees the stale pid file.
    const dead = await waitFor('status 1 after kill -9', async () => {
      const r = await agentStatus(h1);
      return r.exitCode === 1 ? r : undefined;
    }, 10_000, 100);
    expect(JSON.parse(dead.stdout)).toMatchObject({ running: false, pid: null });
    const again = await ensure();
    expect(again.started).toBe(true);
    expect(again.pid).not.toBe(st.pid);
  });

  it('stop ends it and removes pid and state files; bad options exit 2', async () => {
    const r = await h1.exec(['node', STAP_AGENT, 'stop']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Stopping stap-agent \(pid \d+\): OK/);
    expect(existsSync(h1.path('/var/run/stap-server/.stap-agent.pid'))).toBe(false);
    expect(existsSync(h1.path('/var/run/stap-server/.stap-agent.json'))).toBe(false);
    expect((await h1.exec(['node', STAP_AGENT, 'stop'])).stdout).toContain('not running');
    const bad = await h1.exec(['node', STAP_AGENT, 'run', '--ssh-port', '0']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--ssh-port must be an integer 1..65535');
    const badIf = await h1.exec(['node', STAP_AGENT, 'run', '--backend', 'embedded', '--interface', 'nope0']);
    expect(badIf.exitCode).toBe(6);
    expect(badIf.stderr).toContain("interface 'nope0' has no IPv4 address");
  });

  it('the embedded responder publishes on a configured interface (--interface eth0)', async () => {
    const h2 = lan.hosts[1]!;
    await h2.startAvahi();
    const r = await h1.exec(['node', STAP_AGENT, 'start', '--backend', 'embedded', '--interface', 'eth0', '--ssh-port', '2222']);
    expect(r.exitCode, r.stderr).toBe(0);
    const st = JSON.parse((await agentStatus(h1)).stdout) as { state: { backend: string; backendReason: string; interfaces: string[] } };
    expect(st.state).toMatchObject({ backend: 'embedded', backendReason: 'configured', interfaces: ['eth0'] });
    const e = await waitFor('agent record on h2', async () => (await h2.avahiBrowse('_stap-agent._tcp')).find((x) => x.host === 'h1.local'), 8000, 200);
    expect(e).toMatchObject({ name: 'stap-agent on h1', port: 2222, address: h1.ip });
    expect([...e.txt!].sort()).toEqual([`agent=${AGENT_VERSION}`, 'host=h1', 'servers=0', 'ssh=2222']);
    expect((await h1.exec(['node', STAP_AGENT, 'stop'])).exitCode).toBe(0);
  });
});
