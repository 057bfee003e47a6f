import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLan, withLan, type Lan, type LanHost } from './index.js';
import { run, isAlive, waitFor } from './proc.js';
import { listNamespaces, slotFile, SLOTS_DIR } from './slots.js';

const here = new URL('.', import.meta.url).pathname;

async function rootLinks(): Promise<string[]> {
  const r = await run(['ip', '-o', 'link', 'show'], { timeoutMs: 5000 });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1]!.trim().split('@')[0]!)
    .sort();
}

describe('test LAN harness', () => {
  let lan: Lan;
  let linksBefore: string[];

  beforeAll(async () => {
    linksBefore = await rootLinks();
    lan = await createLan({ hosts: 3, tag: 'lan' });
  });
  afterAll(async () => {
    await lan?.destroy();
  });

  it('gives every host its own hostname, address and unicast reachability', async () => {
    for (const h of lan.hosts) {
      const r = await h.exec(['hostname']);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.trim()).toBe(h.name);
      const a = await h.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
      expect(a.stdout).toContain(`${h.ip}/24`);
    }
    const ping = await lan.hosts[0]!.exec(['ping', '-c1', '-W2', lan.hosts[2]!.ip]);
    expect(ping.exitCode).toBe(0);
    expect(lan.hosts[0]!.ip).toBe(`${lan.subnet}.1`);
  });

  it('carries multicast between hosts and adds nothing to the root namespace', async () => {
    const group = '239.78.0.1';
    const port = 47000 + lan.slot;
    const recvScript = `const d=require('dgram').createSocket({type:'udp4',reuseAddr:true});
      d.on('message',m=>{console.log(String(m));process.exit(0)});
      d.bind(${port},()=>{d.addMembership('${group}',process.argv[1]);console.log('listening')});
      setTimeout(()=>process.exit(3),8000);`;
    const receivers = [lan.hosts[1]!, lan.hosts[2]!].map((h) => h.exec(['node', '-e', recvScript, h.ip], { timeoutMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 700));
    const send = await lan.hosts[0]!.exec(
      [
        'node',
        '-e',
        `const d=require('dgram').createSocket('udp4');d.bind(()=>{d.setMulticastInterface(process.argv[1]);
         let n=0;const t=setInterval(()=>{d.send('hello-mcast',${port},'${group}');if(++n>=10){clearInterval(t);d.close()}},200)})`,
        lan.hosts[0]!.ip,
      ],
      { timeoutMs: 10_000 },
    );
    expect(send.exitCode).toBe(0);
    for (const r of await Promise.all(receivers)) {
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('hello-mcast');
    }
    // The root namespace got no interface and no route into the LAN (so nothing multicasts from or to it).
    expect(await rootLinks()).toEqual(linksBefore);
    const addrs = await run(['ip', '-o', 'addr'], { timeoutMs: 5000 });
    expect(addrs.stdout).not.toContain(`${lan.subnet}.`);
  });

  it('gives every host a private view of the host-owned directories', async () => {
    const [h1, h2] = lan.hosts as [typeof lan.hosts[0], typeof lan.hosts[0]];
    const marker = `marker-${Date.now()}`;
    for (const dir of ['/etc/systemtap', '/etc/stap-server', '/etc/sysconfig', '/var/run/stap-server', '/var/log/stap-server', '/var/lib/stap-server', '/root/.systemtap', '/run/dbus', '/run/avahi-daemon']) {
      const w = await h1.sh(`echo ${marker} > ${dir}/lan-test && cat ${dir}/lan-test`);
      expect(w.exitCode, `${dir}: ${w.stderr}`).toBe(0);
      expect(w.stdout.trim()).toBe(marker);
      expect(readFileSync(h1.path(`${dir}/lan-test`), 'utf8').trim()).toBe(marker);
      const r2 = await h2.exec(['cat', `${dir}/lan-test`]);
      expect(r2.exitCode, `${dir} leaked to h2`).not.toBe(0);
      expect(existsSync(`${dir}/lan-test`), `${dir} leaked to the root fs`).toBe(false);
    }
    // /var/run is /run inside the view too.
    expect((await h1.exec(['cat', '/run/stap-server/lan-test'])).stdout.trim()).toBe(marker);
    // The stap-server user owns its home and log dir in every view.
    const u = await h2.sh('touch /var/lib/stap-server/x /var/log/stap-server/x && echo ~', { user: 'stap-server' });
    expect(u.exitCode, u.stderr).toBe(0);
    expect(u.stdout.trim()).toBe('/var/lib/stap-server');
    const id = await h2.exec(['id', '-un'], { user: 'stap-server' });
    expect(id.stdout.trim()).toBe('stap-server');
  });

  it('runs avahi per host: h1 and h2 resolve a service published on h3', async () => {
    await Promise.all(lan.hosts.map((h) => h.startAvahi()));
    const name = `lan test ${lan.slot}`;
    const pub = lan.hosts[2]!.spawn(['avahi-publish', '-s', name, '_stap._tcp', '5556', 'sysinfo=6.1.0 x86_64', 'version=4.8']);
    try {
      for (const h of [lan.hosts[0]!, lan.hosts[1]!]) {
        const e = await waitFor(`${h.name} sees '${name}'`, async () => (await h.avahiBrowse('_stap._tcp')).find((x) => x.name === name), 10_000, 200);
        expect(e.host).toBe('h3.local');
        expect(e.address).toBe(lan.hosts[2]!.ip);
        expect(e.port).toBe(5556);
        expect(e.txt).toEqual(expect.arrayContaining(['sysinfo=6.1.0 x86_64', 'version=4.8']));
      }
      // restart keeps working (pid file and dbus handled)
      await lan.hosts[0]!.restartAvahi();
      expect(lan.hosts[0]!.avahiRunning()).toBe(true);
    } finally {
      pub.kill('SIGTERM');
    }
  });

  it('runs sshd on a host: sessions see that host\'s name and files', async () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'lan-ssh-'));
    try {
      const key = join(keyDir, 'id');
      expect((await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key])).exitCode).toBe(0);
      const h2 = lan.hosts[1]!;
      const info = await h2.startSshd({ authorizedKeys: [readFileSync(`${key}.pub`, 'utf8')] });
      expect(info.port).toBe(22);
      await h2.sh('echo h2-only > /etc/stap-server/ssh-marker');
      writeFileSync(join(keyDir, 'known_hosts'), info.knownHostsLine + '\n');
      const ssh = (user: string): Promise<Awaited<ReturnType<typeof run>>> =>
        lan.hosts[0]!.exec([
          'ssh', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', key,
          '-o', `UserKnownHostsFile=${join(keyDir, 'known_hosts')}`, '-o', 'GlobalKnownHostsFile=/dev/null',
          '-o', 'StrictHostKeyChecking=yes', `${user}@${h2.ip}`, 'hostname; cat /etc/stap-server/ssh-marker; id -un',
        ], { timeoutMs: 15_000 });
      const r = await ssh('root');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.split('\n').slice(0, 3)).toEqual(['h2', 'h2-only', 'root']);
      const u = await ssh('stap-server');
      expect(u.exitCode, u.stderr).toBe(0);
      expect(u.stdout.split('\n').slice(0, 3)).toEqual(['h2', 'h2-only', 'stap-server']);
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
  });

  it('runs real sudo on one host only: a rule in its private /etc/sudoers.d, used over its sshd', async () => {
    const user = 'lansudo';
    try {
      execFileSync('id', [user], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['-M', '-d', '/', '-s', '/bin/sh', user]);
    }
    execFileSync('usermod', ['-d', '/', '-p', '*', user]); // unlocked for key login (sshd with UsePAM no)
    const keyDir = mkdtempSync(join(tmpdir(), 'lan-sudo-'));
    const [h1, , h3] = lan.hosts as [LanHost, LanHost, LanHost];
    try {
      const key = join(keyDir, 'id');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      const info = await h3.startSshd({ authorizedKeys: [readFileSync(`${key}.pub`, 'utf8')] });
      writeFileSync(join(keyDir, 'known_hosts'), info.knownHostsLine + '\n');
      const ssh = (command: string) =>
        h1.exec(['ssh', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', key, '-o', `UserKnownHostsFile=${join(keyDir, 'known_hosts')}`,
          '-o', 'GlobalKnownHostsFile=/dev/null', `${user}@${h3.ip}`, command], { timeoutMs: 15_000 });
      const before = await ssh('sudo -n -- /usr/bin/id -u');
      expect(before.exitCode).toBe(1);
      expect(before.stderr.trim()).toBe('sudo: a password is required');
      const file = await h3.allowSudo(user, ['/usr/bin/id']);
      expect(file).toBe(`/etc/sudoers.d/lan-${user}`);
      const st = await h3.exec(['stat', '-c', '%u %a', file]);
      expect(st.stdout.trim()).toBe('0 440');
      const r = await ssh('sudo -n -- /usr/bin/id -u');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('0');
      // the host resolves its own name: no "unable to resolve host" warning from sudo
      expect(r.stderr).toBe('');
      // only the allowed command, only on that host, never on the real machine
      expect((await ssh('sudo -n -- /usr/bin/true')).stderr).toMatch(/a password is required/);
      expect((await h1.exec(['sudo', '-n', '-l', '-U', user])).stdout).toMatch(/not allowed to run sudo/);
      expect(existsSync(`/etc/sudoers.d/lan-${user}`)).toBe(false);
      await expect(h3.allowSudo(user, ['not-absolute'])).rejects.toThrow(/rejected by visudo/);
      h3.revokeSudo(user);
      expect((await ssh('sudo -n -- /usr/bin/id -u')).exitCode).toBe(1);
    } finally {
      await h3.stopSshd();
      rmSync(keyDir, { recursive: true, force: true });
    }
  });
});

describe('test LAN lifecycle', () => {
  it('destroy removes namespaces, processes, scratch dir and slot file', async () => {
    let anchors: number[] = [];
    let names: string[] = [];
    let slot = 0;
    let dir = '';
    await withLan({ hosts: 2, tag: 'lfc' }, async (lan) => {
      await lan.hosts[0]!.startAvahi();
      anchors = lan.hosts.map((h) => h.anchorPid);
      names = [...lan.hosts.map((h) => h.ns), lan.bridgeNs];
      slot = lan.slot;
      dir = lan.dir;
      expect(await listNamespaces()).toEqual(expect.arrayContaining(names));
    });
    const left = await listNamespaces();
    for (const n of names) expect(left).not.toContain(n);
    for (const p of anchors) expect(isAlive(p)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(slotFile(slot))).toBe(false);
  });

  it('cleans up the LAN of a crashed owner (cleanup.ts)', async () => {
    // A separate process builds a LAN with a daemon in it and is killed with SIGKILL: nothing tears it down.
    const tmp = mkdtempSync(join(tmpdir(), 'lan-crash-'));
    const scriptFile = join(tmp, 'owner.mts');
    const script = `import { createLan } from ${JSON.stringify(join(here, 'index.js'))};
      const lan = await createLan({ hosts: 2, tag: 'crsh' });
      await lan.hosts[0].startAvahi();
      console.log(JSON.stringify({ slot: lan.slot, anchors: lan.hosts.map((h) => h.anchorPid), ns: [...lan.hosts.map((h) => h.ns), lan.bridgeNs] }));
      setInterval(() => {}, 1000);`;
    writeFileSync(scriptFile, script);
    const child = spawn('npx', ['tsx', scriptFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const info = await waitFor('crash child LAN', () => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      return line ? (JSON.parse(line) as { slot: number; anchors: number[]; ns: string[] }) : undefined;
    }, 60_000, 100).catch((e) => {
      throw new Error(`${String(e)}: ${err}`);
    });
    // Kill the owner (node under npx) hard.
    const owner = JSON.parse(readFileSync(slotFile(info.slot), 'utf8')) as { pid: number };
    process.kill(owner.pid, 'SIGKILL');
    child.kill('SIGKILL');
    await waitFor('owner dead', () => !isAlive(owner.pid), 5000);
    expect(await listNamespaces()).toEqual(expect.arrayContaining(info.ns));
    const r = await run(['npx', 'tsx', join(here, 'cleanup.ts')], { timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed \d+ stale test LAN/);
    const left = await listNamespaces();
    for (const n of info.ns) expect(left).not.toContain(n);
    for (const p of info.anchors) expect(isAlive(p)).toBe(false);
    expect(existsSync(slotFile(info.slot))).toBe(false);
    expect(existsSync(SLOTS_DIR)).toBe(true);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('builds 50 hosts in well under a minute', async () => {
    const t0 = Date.now();
    const lan = await createLan({ hosts: 50, tag: 'big' });
    const buildMs = Date.now() - t0;
    try {
      console.log(`test LAN: built 50 hosts in ${buildMs} ms`);
      const r = await lan.hosts[49]!.exec(['hostname']);
      expect(r.stdout.trim()).toBe('h50');
      const ping = await lan.hosts[49]!.exec(['ping', '-c1', '-W2', lan.hosts[0]!.ip]);
      expect(ping.exitCode).toBe(0);
      expect(buildMs).toBeLessThan(60_000);
    } finally {
      const t1 = Date.now();
      await lan.destroy();
      console.log(`test LAN: destroyed 50 hosts in ${Date.now() - t1} ms`);
    }
  });
});
