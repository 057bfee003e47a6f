/**
 * Issue 4 acceptance with avahi-daemon on every host: the real `stap-server start` on h1 (which ensures the agent
 * runs), seen from h2 by a real avahi-browse, the real `stap --list-servers` and `stap --use-server`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLan, waitFor, type Lan, type LanHost } from '../../lan/index.js';
import { AGENT_VERSION, BrowseWatch, STAP_AGENT, STAP_SERVER, agentStatus, expectedTxt, headersRelease, serverStatus, startServer } from './helpers.js';
import type { StartedServer } from './helpers.js';
import { certinfoOfFile } from '../../../src/trust/cert.js';

const REL = headersRelease();
const CLIENT_ENV = { SYSTEMTAP_DIR: '/root/.systemtap' };
const NAME_H1 = 'Systemtap Compile Server on h1';

describe('stap-agent with avahi-daemon on every host', () => {
  let lan: Lan;
  let h1: LanHost;
  let h2: LanHost;
  let watch: BrowseWatch;

  beforeAll(async () => {
    lan = await createLan({ hosts: 2, tag: 'agav', avahi: true });
    [h1, h2] = lan.hosts as [LanHost, LanHost];
    watch = new BrowseWatch(h2, '_stap._tcp');
  });
  afterAll(async () => {
    watch?.stop();
    await lan?.destroy();
  });

  let first: StartedServer;

  it('a server started on h1 appears in h2\'s avahi-browse with stap-serverd\'s exact name and TXT within 2 s', async () => {
    first = await startServer(h1, REL, ['--port', String(7000 + Math.floor(Math.random() * 900))]);
    const seen = await watch.waitFor('h1 server resolved on h2', (e) => e.event === '=' && e.port === first.port && e.host === 'h1.local', first.returnedAt, 5000);
    const latency = seen.at - first.returnedAt;
    console.log(`avahi backend: visible on h2 ${latency} ms after start returned`);
    expect(latency).toBeLessThanOrEqual(2000);
    expect(seen.name).toBe(NAME_H1);
    expect(seen.address).toBe(h1.ip);
    expect([...seen.txt!].sort()).toEqual(expectedTxt(REL, first.certinfo));
    // The one-shot form the issue names, too.
    const rpt = (await h2.avahiBrowse('_stap._tcp')).find((e) => e.port === first.port);
    expect(rpt?.name).toBe(NAME_H1);
    expect([...rpt!.txt!].sort()).toEqual(expectedTxt(REL, first.certinfo));
  });

  it('the agent reports the Avahi backend and what it advertises (status --json)', async () => {
    const r = await agentStatus(h1);
    expect(r.exitCode).toBe(0);
    const st = JSON.parse(r.stdout) as { running: boolean; state: { backend: string; services: { type: string; name: string; port: number; serverPid?: number; txt: string[] }[] } };
    expect(st.running).toBe(true);
    expect(st.state.backend).toBe('avahi');
    const svc = st.state.services.find((s) => s.serverPid === first.pid);
    expect(svc).toMatchObject({ type: '_stap._tcp', name: NAME_H1, port: first.port });
    expect(st.state.services.some((s) => s.type === '_stap-agent._tcp')).toBe(true);
  });

  it('the real stap --list-servers=all on h2 lists it with the exact values', async () => {
    const r = await h2.exec(['stap', '--list-servers=all'], { env: CLIENT_ENV });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain(
      ` host=h1.local address=${h1.ip} port=${first.port} sysinfo="${REL} x86_64" version=4.8 certinfo="${first.certinfo}"`,
    );
  });

  it('after trusting, stap --use-server -r REL -p2 on h2 selects the server by mDNS alone and uses it', async () => {
    const trust = await h2.exec(['stap', '--trust-servers=ssl,no-prompt', `--use-server=${h1.ip}:${first.port}`], { env: CLIENT_ENV });
    expect(trust.exitCode, trust.stderr).toBe(0);
    const log = (await serverStatus(h1)).find((s) => s.pid === first.pid)!.log;
    const before = readFileSync(h1.path(log), 'utf8').length;
    const r = await h2.exec(['stap', '--use-server', '-r', REL, '-p2', '-e', 'probe begin { exit() }'], { env: CLIENT_ENV, timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('begin');
    const added = readFileSync(h1.path(log), 'utf8').slice(before);
    expect(added).toContain(h2.ip); // the request really went to h1's server
  });

  it('SystemTap 4.8\'s own stap-server status still works beside the agent\'s files in STAT_PATH', async () => {
    const r = await h1.exec(['/usr/bin/stap-server', 'status']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`running as PID ${first.pid}`);
  });

  it('advertises the host itself as _stap-agent._tcp with version, host name, SSH port and server count', async () => {
    const e = (await h2.avahiBrowse('_stap-agent._tcp')).find((x) => x.host === 'h1.local');
    expect(e?.name).toBe('stap-agent on h1');
    expect(e?.port).toBe(22);
    expect([...e!.txt!].sort()).toEqual([`agent=${AGENT_VERSION}`, 'host=h1', 'servers=1', 'ssh=22']);
  });

  it('a changed certificate updates certinfo on h2', async () => {
    const sslDir = (await serverStatus(h1)).find((s) => s.pid === first.pid)!.sslDir;
    const certFile = h1.path(join(sslDir, 'stap.cert'));
    const original = readFileSync(certFile);
    const tmp = mkdtempSync(join(tmpdir(), 'agent-cert-'));
    try {
      // A different certificate (new serial), as a regeneration would produce.
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tmp, 'k'), '-subj', '/CN=Systemtap Compile Server/OU=Systemtap', '-days', '30', '-set_serial', '0x00cc2400aa', '-outform', 'DER', '-out', join(tmp, 'c')], { stdio: 'ignore' });
      const newInfo = certinfoOfFile(join(tmp, 'c'));
      expect(newInfo).toBe('00:cc:24:00:aa');
      const t0 = Date.now();
      writeFileSync(certFile + '.new', readFileSync(join(tmp, 'c')));
      execFileSync('mv', [certFile + '.new', certFile]);
      // A running avahi-browse does not re-report changed TXT: ask afresh, as a client would.
      await waitFor('new certinfo on h2', async () => (await h2.avahiBrowse('_stap._tcp')).some((e) => e.port === first.port && !!e.txt?.includes(`certinfo=${newInfo}`)), 8000, 100);
      console.log(`certificate change visible on h2 after ${Date.now() - t0} ms`);
      const list = await h2.exec(['stap', '--list-servers=all'], { env: CLIENT_ENV });
      expect(list.stderr).toContain(`port=${first.port} sysinfo="${REL} x86_64" version=4.8 certinfo="${newInfo}"`);
    } finally {
      writeFileSync(certFile, original);
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('stop withdraws the server from h2\'s view within 2 s', async () => {
    const r = await h1.exec(['node', STAP_SERVER, 'stop', '-p', String(first.pid)]);
    const t0 = Date.now();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const gone = await watch.waitFor('removal on h2', (e) => e.event === '-' && e.name === NAME_H1, t0 - 3000, 5000);
    const latency = gone.at - t0;
    console.log(`avahi backend: stop withdrawn on h2 ${latency} ms after stop returned`);
    expect(latency).toBeLessThanOrEqual(2000);
  });

  it('kill -9 of a server withdraws it from h2\'s view within 2 s', async () => {
    const s = await startServer(h1, REL, ['--port', String(7000 + Math.floor(Math.random() * 900))]);
    await watch.waitFor('second server on h2', (e) => e.event === '=' && e.port === s.port, s.returnedAt, 5000);
    const t0 = Date.now();
    process.kill(s.pid, 'SIGKILL');
    const gone = await watch.waitFor('removal on h2', (e) => e.event === '-' && e.name === NAME_H1, t0, 5000);
    const latency = gone.at - t0;
    console.log(`avahi backend: kill -9 withdrawn on h2 ${latency} ms after the kill`);
    expect(latency).toBeLessThanOrEqual(2000);
  });

  it('after avahi-daemon restarts on h1 its servers are visible again within 5 s', async () => {
    const s = await startServer(h1, REL, ['--port', String(7000 + Math.floor(Math.random() * 900))]);
    await watch.waitFor('third server on h2', (e) => e.event === '=' && e.port === s.port, s.returnedAt, 5000);
    const t0 = Date.now();
    await h1.restartAvahi();
    const back = await watch.waitFor('server back on h2', (e) => e.event === '=' && e.port === s.port, t0 + 1, 5000);
    console.log(`avahi restart: visible again on h2 ${back.at - t0} ms after the restart began`);
    expect(back.at - t0).toBeLessThanOrEqual(5000);
    expect(back.name).toBe(NAME_H1);
  });

  it('stap-agent stop withdraws everything; status then says not running (3)', async () => {
    const stop = await h1.exec(['node', STAP_AGENT, 'stop']);
    expect(stop.exitCode, stop.stderr).toBe(0);
    const st = await agentStatus(h1);
    expect(st.exitCode).toBe(3);
    expect(JSON.parse(st.stdout)).toMatchObject({ running: false });
    // Goodbyes reach h2's cache at once; avahi drops the entries one second later (RFC 6762 10.1).
    // (A one-shot browse can hang on a resolver whose service vanished mid-way: such a try counts as "not yet".)
    await waitFor('h1 services gone from h2', async () => {
      try {
        return (await h2.avahiBrowse('_stap._tcp', { timeoutMs: 4000 })).every((e) => e.host !== 'h1.local');
      } catch {
        return false;
      }
    }, 15_000, 200);
    await h1.exec(['node', STAP_SERVER, 'stop']);
  });
});
