/**
 * start ensures the advertising agent runs (unless STAP_FLEET_AGENT=off), inside a LAN host namespace
 * because the agent advertises over mDNS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLan, type Lan } from '../../lan/index.js';
import { CLI } from './helpers.js';

let lan: Lan;
let T: string;
let G: string;

beforeAll(async () => {
  lan = await createLan({ hosts: 1, tag: 'svca' });
  await lan.hosts[0]!.startAvahi();
  T = mkdtempSync('/tmp/sf-svc-agent-');
  chmodSync(T, 0o755);
  mkdirSync(join(T, 'conf.d'));
  G = join(T, 'global.conf');
  writeFileSync(G, `CONFIG_PATH=${T}/conf.d\nSTAT_PATH=${T}/stat\nLOG_FILE=${T}/log/log\nSTAP_USER=stap-server\n`);
}, 120_000);

afterAll(async () => {
  await lan?.destroy();
  if (T) rmSync(T, { recursive: true, force: true });
});

const run = (args: string[], env: Record<string, string> = {}) =>
  lan.hosts[0]!.exec([process.execPath, CLI, ...args, '-c', G], { env: { STAP_SERVER_CONFIG_FILE: '/nonexistent/global', ...env }, timeoutMs: 60_000 });

describe('agent hook', () => {
  it('STAP_FLEET_AGENT=off: start leaves no agent; default: start ensures one runs for STAT_PATH', async () => {
    let r = await run(['start', '-n', 'noagent'], { STAP_FLEET_AGENT: 'off' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readdirSync(join(T, 'stat')).some((f) => f.includes('agent'))).toBe(false);
    r = await run(['start', '-n', 'withagent'], { STAP_FLEET_AGENT: 'on' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const agentFiles = readdirSync(join(T, 'stat')).filter((f) => f.includes('agent'));
    expect(agentFiles.length).toBeGreaterThan(0);
    const pidFile = agentFiles.find((f) => f.endsWith('.pid'));
    expect(pidFile).toBeDefined();
    const pid = Number(readFileSync(join(T, 'stat', pidFile!), 'utf8').trim());
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    r = await run(['status']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(2);
    r = await run(['stop']);
    expect(r.exitCode).toBe(0);
  });
});
