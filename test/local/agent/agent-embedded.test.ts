/**
 * Issue 4 acceptance without avahi-daemon on h1: the agent's embedded responder (bonjour-service), seen from h2's
 * real avahi-daemon, avahi-browse and stap client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createLan, waitFor, type Lan, type LanHost } from '../../lan/index.js';
import { AGENT_VERSION, BrowseWatch, STAP_AGENT, STAP_SERVER, agentStatus, expectedTxt, headersRelease, serverStatus, startServer } from './helpers.js';
import type { StartedServer } from './helpers.js';

const REL = headersRelease();
const CLIENT_ENV = { SYSTEMTAP_DIR: '/root/.systemtap' };
const NAME_H1 = 'Systemtap Compile Server on h1';

describe('stap-agent without avahi-daemon on h1 (embedded responder)', () => {
  let lan: Lan;
  let h1: LanHost;
  let h2: LanHost;
  let watch: BrowseWatch;

  beforeAll(async () => {
    lan = await createLan({ hosts: 2, tag: 'agem' });
    [h1, h2] = lan.hosts as [LanHost, LanHost];
    await h2.startAvahi();
    watch = new BrowseWatch(h2, '_stap._tcp');
  });
  afterAll(async () => {
    watch?.stop();
    await lan?.destroy();
  });

  let first: StartedServer;

  it('a server started on h1 appears in h2\'s avahi-browse with the exact name and TXT within 2 s', async () => {
    first = await startServer(h1, REL);
    const seen = await watch.waitFor('h1 server on h2', (e) => e.event === '=' && e.port === first.port, first.returnedAt, 5000);
    const latency = seen.at - first.returnedAt;
    console.log(`embedded backend: visible on h2 ${latency} ms after start returned`);
    expect(latency).toBeLessThanOrEqual(2000);
    expect(seen).toMatchObject({ name: NAME_H1, host: 'h1.local', address: h1.ip, port: first.port });
    expect([...seen.txt!].sort()).toEqual(expectedTxt(REL, first.certinfo));
    const rpt = (await h2.avahiBrowse('_stap._tcp')).find((e) => e.port === first.port);
    expect([...rpt!.txt!].sort()).toEqual(expectedTxt(REL, first.certinfo));
  });

  it('status --json says the embedded backend is in use and why', async () => {
    const st = JSON.parse((await agentStatus(h1)).stdout) as { state: { backend: string; backendReason: string; services: { type: string; state: string; serverPid?: number }[] } };
    expect(st.state.backend).toBe('embedded');
    expect(st.state.backendReason).toBe('no avahi-daemon');
    expect(st.state.services.find((s) => s.serverPid === first.pid)?.state).toBe('announced');
  });

  it('stap --list-servers=all and stap --use-server (by mDNS alone) on h2 work against it', async () => {
    const list = await h2.exec(['stap', '--list-servers=all'], { env: CLIENT_ENV });
    expect(list.stderr).toContain(` host=h1.local address=${h1.ip} port=${first.port} sysinfo="${REL} x86_64" version=4.8 certinfo="${first.certinfo}"`);
    const trust = await h2.exec(['stap', '--trust-servers=ssl,no-prompt', `--use-server=${h1.ip}:${first.port}`], { env: CLIENT_ENV });
    expect(trust.exitCode, trust.stderr).toBe(0);
    const log = (await serverStatus(h1)).find((s) => s.pid === first.pid)!.log;
    const before = readFileSync(h1.path(log), 'utf8').length;
    const r = await h2.exec(['stap', '--use-server', '-r', REL, '-p2', '-e', 'probe begin { exit() }'], { env: CLIENT_ENV, timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(h1.path(log), 'utf8').slice(before)).toContain(h2.ip);
  });

  it('the host record _stap-agent._tcp is visible from h2', async () => {
    const e = (await h2.avahiBrowse('_stap-agent._tcp')).find((x) => x.host === 'h1.local');
    expect(e?.name).toBe('stap-agent on h1');
    expect([...e!.txt!].sort()).toEqual([`agent=${AGENT_VERSION}`, 'host=h1', 'servers=1', 'ssh=22']);
  });

  it('stop withdraws the server from h2\'s view within 2 s (goodbye packets)', async () => {
    const r = await h1.exec(['node', STAP_SERVER, 'stop', '-p', String(first.pid)]);
    const t0 = Date.now();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const gone = await watch.waitFor('removal on h2', (e) => e.event === '-' && e.name === NAME_H1, t0 - 3000, 5000);
    console.log(`embedded backend: stop withdrawn on h2 ${gone.at - t0} ms after stop returned`);
    expect(gone.at - t0).toBeLessThanOrEqual(2000);
  });

  it('kill -9 of a server withdraws it from h2\'s view within 2 s', async () => {
    const s = await startServer(h1, REL);
    await watch.waitFor('second server on h2', (e) => e.event === '=' && e.port === s.port, s.returnedAt, 5000);
    const t0 = Date.now();
    process.kill(s.pid, 'SIGKILL');
    const gone = await watch.waitFor('removal on h2', (e) => e.event === '-' && e.name === NAME_H1, t0, 5000);
    console.log(`embedded backend: kill -9 withdrawn on h2 ${gone.at - t0} ms after the kill`);
    expect(gone.at - t0).toBeLessThanOrEqual(2000);
  });

  it('switches to Avahi when avahi-daemon starts on h1, without duplicates, and stop withdraws everything', async () => {
    const s = await startServer(h1, REL);
    await watch.waitFor('third server on h2', (e) => e.event === '=' && e.port === s.port, s.returnedAt, 5000);
    await h1.startAvahi();
    await waitFor('agent on the avahi backend', async () => (JSON.parse((await agentStatus(h1)).stdout) as { state: { backend: string } }).state.backend === 'avahi', 5000, 100);
    await waitFor('one entry on h2, through avahi', async () => {
      const e = (await h2.avahiBrowse('_stap._tcp')).filter((x) => x.host === 'h1.local');
      return e.length === 1 && e[0]!.port === s.port && e[0]!.name === NAME_H1;
    }, 8000, 200);
    expect((await h1.exec(['node', STAP_AGENT, 'stop'])).exitCode).toBe(0);
    await h1.exec(['node', STAP_SERVER, 'stop']);
  });

  it('falls back to the embedded responder when avahi-daemon goes away for good (after the grace period)', async () => {
    expect(h1.avahiRunning()).toBe(true);
    expect((await h1.exec(['node', STAP_AGENT, 'start', '--avahi-grace-ms', '1000'])).exitCode).toBe(0);
    const s = await startServer(h1, REL);
    await waitFor('served through avahi', async () => (await h2.avahiBrowse('_stap._tcp')).some((e) => e.port === s.port), 8000, 200);
    const t0 = Date.now();
    await h1.stopAvahi();
    await waitFor('agent on the embedded backend', async () => (JSON.parse((await agentStatus(h1)).stdout) as { state: { backend: string } }).state.backend === 'embedded', 8000, 100);
    const back = await watch.waitFor('server re-published by the embedded responder', (e) => e.event === '=' && e.port === s.port, t0 + 1, 8000);
    console.log(`avahi gone for good: published again by the embedded responder ${back.at - t0} ms later (grace 1000 ms)`);
    expect(back.name).toBe(NAME_H1);
    expect((await h1.exec(['node', STAP_AGENT, 'stop'])).exitCode).toBe(0);
    await h1.exec(['node', STAP_SERVER, 'stop']);
  });
});

describe('two hosts with the same instance name', () => {
  let lan: Lan;
  beforeAll(async () => {
    lan = await createLan({ hosts: 5, tag: 'agcf' });
  });
  afterAll(async () => {
    await lan?.destroy();
  });

  // Pair A: Avahi publishes first, the embedded responder must rename. Pair B: embedded first, Avahi renames.
  it.each([
    { label: 'avahi first, embedded second', firstIdx: 0, secondIdx: 2, name: 'twina' },
    { label: 'embedded first, avahi second', firstIdx: 3, secondIdx: 4, name: 'twinb' },
    { label: 'embedded on both', firstIdx: 2, secondIdx: 3, name: 'twinc' },
  ])('both stay visible, one renamed ($label)', async ({ firstIdx, secondIdx, name }) => {
    const hosts = lan.hosts;
    const observer = hosts[1]!;
    if (!observer.avahiRunning()) await observer.startAvahi();
    const a = hosts[firstIdx]!;
    const b = hosts[secondIdx]!;
    // h1 and h5 run avahi-daemon; h3 and h4 do not.
    for (const h of [a, b]) if ((h === hosts[0] || h === hosts[4]) && !h.avahiRunning()) await h.startAvahi();
    for (const h of [a, b]) {
      const st = await h.exec(['node', STAP_AGENT, 'start', '--instance-host', name]);
      expect(st.exitCode, st.stderr).toBe(0);
      const r = await h.exec(['node', STAP_SERVER, 'start', '-r', REL]);
      expect(r.exitCode, r.stderr).toBe(0);
      await waitFor(`${h.name} visible`, async () => (await observer.avahiBrowse('_stap._tcp')).some((e) => e.host === `${h.name}.local`), 8000, 200);
    }
    const base = `Systemtap Compile Server on ${name}`;
    const entries = await waitFor('both names settled', async () => {
      const e = (await observer.avahiBrowse('_stap._tcp')).filter((x) => x.name.startsWith(base));
      const hostsSeen = new Set(e.map((x) => x.host));
      return e.length === 2 && hostsSeen.size === 2 && new Set(e.map((x) => x.name)).size === 2 ? e : undefined;
    }, 8000, 200);
    const byHost = new Map(entries.map((e) => [e.host, e.name]));
    expect(byHost.get(`${a.name}.local`)).toBe(base);
    expect(byHost.get(`${b.name}.local`)).toBe(`${base} #2`);
    // Still both there a little later (no flapping).
    await new Promise((r) => setTimeout(r, 1500));
    const later = (await observer.avahiBrowse('_stap._tcp')).filter((x) => x.name.startsWith(base));
    expect(later.map((x) => x.name).sort()).toEqual([base, `${base} #2`]);
    for (const h of [a, b]) {
      expect((await h.exec(['node', STAP_AGENT, 'stop'])).exitCode).toBe(0);
      await h.exec(['node', STAP_SERVER, 'stop']);
    }
  });
});
