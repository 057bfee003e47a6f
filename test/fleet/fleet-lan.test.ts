/**
 * Issue 5 acceptance on the test LAN: real sshd on every target, the real stap-server and stap-agent
 * there, stap-fleet run as a real process from h1 (discovery multicasts, so the controller is a LAN host too).
 *   h2..h11   healthy targets (group @ok)
 *   h12       down (link down: nothing answers)
 *   h13       sshd that does not accept our key
 *   h14       sshd whose host key differs from known_hosts
 *   h15       sshd fine, but its stap-server command hangs
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, type Lan, type LanHost } from '../lan/index.js';
import { snapshotDist } from './snapshot.js';

const SNAP = snapshotDist();
const FLEET = SNAP.bin('stap-fleet');
const STAP_SERVER = SNAP.bin('stap-server');
const STAP_AGENT = SNAP.bin('stap-agent');
const REL = readdirSync('/lib/modules').find((r) => existsSync(`/lib/modules/${r}/build/.config`))!;
const CONNECT_S = 5;
// The CPU is shared with other suites: a command that takes more than this is the hanging one.
const COMMAND_S = 10;

interface StatusDoc {
  hosts: { name: string; category: string; shortMessage?: string; agent: { txt: Record<string, string> } | null; servers: { verdict: string; pid?: number; releases: string[]; port?: number }[] }[];
  summary: Record<string, number>;
  exitCode: number;
}
interface ActionDoc {
  hosts: { name: string; category: string; exitCode: number | null; shortMessage?: string; stdout: string; stderr: string }[];
  summary: Record<string, string[]>;
  exitCode: number;
}

describe('stap-fleet on the test LAN', () => {
  let lan: Lan;
  let ctl: LanHost;
  let dir: string;
  let inventory: string;
  let knownHosts: string;
  let remote: string;
  const ok = () => lan.hosts.slice(1, 11);

  beforeAll(async () => {
    if (!REL) throw new Error('no kernel headers release (run scripts/setup.sh)');
    lan = await createLan({ hosts: 15, tag: 'flt' });
    ctl = lan.hosts[0]!;
    dir = mkdtempSync(join(tmpdir(), 'fleet-lan-'));
    chmodSync(dir, 0o755); // the remote-command script must be reachable for a non-root login too
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'fakehost')]);
    const ours = readFileSync(join(dir, 'id.pub'), 'utf8');
    const other = readFileSync(join(dir, 'other.pub'), 'utf8');
    const fakeHostKey = readFileSync(join(dir, 'fakehost.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    const known: string[] = [];
    await Promise.all(
      lan.hosts.slice(1).map(async (h) => {
        if (h.name === 'h12') {
          const s = await h.startSshd({ authorizedKeys: [ours] });
          known.push(s.knownHostsLine);
          return;
        }
        const s = await h.startSshd({ authorizedKeys: [h.name === 'h13' ? other : ours] });
        known.push(h.name === 'h14' ? `${h.ip} ${fakeHostKey}` : s.knownHostsLine);
      }),
    );
    // h12 goes down: its sshd stops and its link drops, so nothing answers at its address.
    await lan.host('h12').stopSshd();
    execFileSync('ip', ['-n', lan.host('h12').ns, 'link', 'set', 'eth0', 'down']);
    knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, known.join('\n') + '\n');
    // Every host runs the same command; on h15 it hangs.
    remote = join(dir, 'stap-server-remote');
    writeFileSync(remote, `#!/bin/sh\nif [ "$(uname -n)" = h15 ]; then exec sleep 600; fi\nexec node ${STAP_SERVER} "$@"\n`, { mode: 0o755 });
    inventory = join(dir, 'inventory');
    writeFileSync(
      inventory,
      ['# test LAN', '[ok]', ...ok().map((h) => `${h.name} host=${h.ip}`), '[bad]', ...lan.hosts.slice(11).map((h) => `${h.name} host=${h.ip}`), '[all]', '@ok', '@bad', ''].join('\n'),
    );
  });

  afterAll(async () => {
    await lan?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    SNAP.remove();
  });

  async function fleet(args: string[], opts: { timeoutMs?: number; inventory?: boolean } = {}) {
    const common = [
      '--identity', join(dir, 'id'), '--known-hosts', knownHosts, '--global-known-hosts', '/dev/null',
      '--remote-command', remote, '-l', 'root', '-t', String(CONNECT_S), '-u', String(COMMAND_S), '-F', '/dev/null',
      ...(opts.inventory === false ? [] : ['-i', inventory]),
    ];
    const [cmd, ...rest] = args;
    const dash = rest.indexOf('--');
    const before = dash >= 0 ? rest.slice(0, dash) : rest;
    const after = dash >= 0 ? rest.slice(dash) : [];
    return ctl.exec(['node', FLEET, cmd!, ...common, ...before, ...after], { env: { SSH_AUTH_SOCK: '' }, timeoutMs: opts.timeoutMs ?? 60_000 });
  }

  async function serversOn(h: LanHost) {
    const r = await h.exec(['node', STAP_SERVER, 'status', '--json']);
    return (JSON.parse(r.stdout) as { servers: { pid: number; state: string; releases: string[]; statFile: string }[] }).servers;
  }

  it('status of 10 hosts without servers lists every host, exit 0', async () => {
    const r = await fleet(['status', '@ok', '--no-mdns']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const h of ok()) expect(r.stdout).toMatch(new RegExp(`^${h.name}\\s+no servers$`, 'm'));
    expect(r.stdout).toContain('10 hosts: 10 ok, 0 failed, 0 unreachable, 0 timed out');
  });

  it('start -- -r REL then stop change every host, verified on each host', async () => {
    // Ten servers starting at once on two shared cores: give the commands time.
    const start = await fleet(['start', '@ok', '-u', '90', '--', '-r', REL], { timeoutMs: 120_000 });
    expect(start.exitCode, start.stdout + start.stderr).toBe(0);
    expect(start.stdout).toMatch(/^---------------- h\[2-11\] \(10\) ok ----------------$/m);
    expect(start.stdout.trimEnd().split('\n').pop()).toBe('10 hosts: 10 ok, 0 failed, 0 unreachable, 0 timed out');
    for (const h of ok()) {
      const s = await serversOn(h);
      expect(s.filter((x) => x.state === 'running').map((x) => x.releases), h.name).toEqual([[REL]]);
    }

    // status --json, merged with mDNS: every server running and advertised (allow the agents time to announce).
    let doc: StatusDoc | undefined;
    for (let i = 0; i < 10; i++) {
      const st = await fleet(['status', '@ok', '--json']);
      expect(st.exitCode, st.stderr).toBe(0);
      doc = JSON.parse(st.stdout) as StatusDoc;
      if (doc.hosts.every((h) => h.servers.length === 1 && h.servers[0]!.verdict === 'running-advertised')) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(doc!.hosts.map((h) => h.name)).toEqual(ok().map((h) => h.name));
    for (const h of doc!.hosts) {
      expect(h.servers.map((s) => [s.verdict, s.releases]), h.name).toEqual([['running-advertised', [REL]]]);
      expect(h.agent?.txt.host).toBe(h.name);
    }
    expect(doc!.summary).toMatchObject({ hosts: 10, ok: 10, servers: 10, running: 10, dead: 0 });

    // the table: one row per server
    const table = await fleet(['status', '@ok']);
    for (const h of ok()) expect(table.stdout).toMatch(new RegExp(`^${h.name}\\s+running, advertised\\s+\\d+\\s+\\S+\\s+\\d+\\s+${REL.replace(/\./g, '\\.')}\\s+x86_64`, 'm'));

    // mDNS alone, filtered on the advertised release.
    const rel = JSON.parse((await fleet(['status', '--mdns-only', '--json', '--release', REL], { inventory: false })).stdout) as StatusDoc;
    expect(rel.hosts.map((h) => h.name).sort()).toEqual(ok().map((h) => h.name).sort());
    expect(rel.hosts.every((h) => h.servers.length === 1 && h.servers[0]!.verdict === 'advertised')).toBe(true);
    const none = JSON.parse((await fleet(['status', '--mdns-only', '--json', '--release', '0.0.0-none'], { inventory: false })).stdout) as StatusDoc;
    expect(none.hosts).toEqual([]);

    const stop = await fleet(['stop', '@ok', '-u', '60']);
    expect(stop.exitCode, stop.stdout + stop.stderr).toBe(0);
    for (const h of ok()) expect((await serversOn(h)).filter((x) => x.state === 'running'), h.name).toEqual([]);
  });

  it('hosts without servers are found through their agent advertisement (no targets, no inventory)', async () => {
    // The agents keep advertising the hosts after the servers stopped; start them where they are not running.
    await Promise.all(ok().map((h) => h.exec(['node', STAP_AGENT, 'start'])));
    let doc: StatusDoc | undefined;
    for (let i = 0; i < 10; i++) {
      const r = await fleet(['status', '--mdns-only', '--json'], { inventory: false });
      expect(r.exitCode, r.stderr).toBe(0);
      doc = JSON.parse(r.stdout) as StatusDoc;
      if (ok().every((h) => doc!.hosts.some((x) => x.name === h.name))) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    for (const h of ok()) {
      const found = doc!.hosts.find((x) => x.name === h.name);
      expect(found, h.name).toBeDefined();
      expect(found!.agent?.txt.host).toBe(h.name);
      expect(found!.servers.filter((s) => s.verdict !== 'advertised')).toEqual([]);
    }
    // And over SSH: the discovered addresses are the targets.
    const r = await fleet(['status', '--json', '-x', 'h1'], { inventory: false });
    const full = JSON.parse(r.stdout) as StatusDoc;
    for (const h of ok()) expect(full.hosts.find((x) => x.name === h.name)?.category, h.name).toBe('ok');
  });

  it('down, rejecting, wrong-key and hanging hosts: own category and message each, others complete, bounded time', async () => {
    const t0 = Date.now();
    const r = await fleet(['status', '@all', '--json']);
    const wall = Date.now() - t0;
    const doc = JSON.parse(r.stdout) as StatusDoc;
    const by = new Map(doc.hosts.map((h) => [h.name, h]));
    for (const h of ok()) expect(by.get(h.name)?.category, h.name).toBe('ok');
    expect(by.get('h12')?.category).toMatch(/^(unreachable|timeout)$/);
    expect(by.get('h12')?.shortMessage).toMatch(/^h12: (cannot connect to .*EHOSTUNREACH|connect timed out)/);
    expect(by.get('h13')?.category).toBe('auth');
    expect(by.get('h13')?.shortMessage).toMatch(/^h13: authentication refused for user 'root'/);
    expect(by.get('h14')?.category).toBe('hostkey');
    const offered = readFileSync(join(lan.host('h14').dir, 'sshd', 'host_ed25519.pub'), 'utf8').split(/\s+/)[1]!;
    const offeredFp = 'SHA256:' + execFileSync('sh', ['-c', `echo ${offered} | base64 -d | sha256sum | cut -d' ' -f1 | xxd -r -p | base64`]).toString().trim().replace(/=+$/, '');
    const expectedFp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'fakehost.pub')], { encoding: 'utf8' }).split(/\s+/)[1]!;
    expect(by.get('h14')?.shortMessage).toContain(`expected ${expectedFp}`);
    expect(by.get('h14')?.shortMessage).toContain(`offered ssh-ed25519 ${offeredFp}`);
    expect(by.get('h15')?.category).toBe('timeout');
    expect(by.get('h15')?.shortMessage).toMatch(new RegExp(`^h15: command timed out after ${COMMAND_S * 1000} ms`));
    expect(doc.exitCode).toBe(7);
    expect(r.exitCode).toBe(7);
    // connect + command timeout, plus process start and the mDNS browse running alongside.
    expect(wall).toBeLessThan((CONNECT_S + COMMAND_S) * 1000 + 3000);
  });

  it('an action over the same hosts reports each category and exits by precedence', async () => {
    const r = await fleet(['condrestart', '@all', '--json']);
    const doc = JSON.parse(r.stdout) as ActionDoc;
    expect(doc.summary.ok).toEqual(ok().map((h) => h.name));
    expect(doc.summary.auth).toEqual(['h13']);
    expect(doc.summary.hostkey).toEqual(['h14']);
    expect(doc.summary.timeout).toEqual(['h15']);
    expect([...doc.summary.unreachable!, ...doc.summary.timeout!].sort()).toEqual(['h12', 'h15'].sort());
    expect(r.exitCode).toBe(7);
    // Text mode: identical output folded into one block, the failures in their own blocks.
    const text = await fleet(['stop', '@all']);
    expect(text.stdout, text.stdout).toMatch(/^---------------- h\[2-11\] \(10\) ok ----------------$/m);
    expect(text.stdout).toMatch(/^---------------- h13 \(1\) auth refused ----------------$/m);
    expect(text.stdout).toMatch(/^---------------- h14 \(1\) host key refused ----------------$/m);
    expect(text.exitCode).toBe(7);
    // Without the wrong-key host, auth wins; without it too, unreachable/timeout; a failing command alone gives 3.
    expect((await fleet(['status', '@ok,h13,h15'])).exitCode).toBe(6);
    expect((await fleet(['status', '@ok,h15'])).exitCode).toBe(4);
    const failed = await fleet(['restart', '@ok', '--', '-p', '999999']);
    expect(failed.exitCode, failed.stdout + failed.stderr).toBe(3);
  });

  it('--accept-new records an unknown host key; without it the host is refused', async () => {
    const kh = join(dir, 'kh-empty');
    writeFileSync(kh, '');
    const base = ['--identity', join(dir, 'id'), '--known-hosts', kh, '--global-known-hosts', '/dev/null', '--remote-command', remote, '-l', 'root', '-F', '/dev/null', '--no-mdns', '-i', inventory, 'h2'];
    const refused = await ctl.exec(['node', FLEET, 'status', ...base], { env: { SSH_AUTH_SOCK: '' } });
    expect(refused.exitCode).toBe(7);
    expect(refused.stdout).toMatch(/not in known_hosts .*--accept-new/);
    const accepted = await ctl.exec(['node', FLEET, 'status', '--accept-new', ...base], { env: { SSH_AUTH_SOCK: '' } });
    expect(accepted.exitCode, accepted.stdout + accepted.stderr).toBe(0);
    expect(readFileSync(kh, 'utf8')).toContain(`${lan.host('h2').ip} ssh-ed25519 `);
    const again = await ctl.exec(['node', FLEET, 'status', ...base], { env: { SSH_AUTH_SOCK: '' } });
    expect(again.exitCode).toBe(0);
  });

  it('reaches a host through a ProxyJump hop (the target sees the jump host as the client)', async () => {
    const h2 = lan.host('h2');
    const h3 = lan.host('h3');
    const inv = join(dir, 'inv-jump');
    writeFileSync(inv, `viajump host=${h3.ip} proxyjump=root@${h2.ip}\n`);
    const r = await ctl.exec(
      ['node', FLEET, 'status', '--identity', join(dir, 'id'), '--known-hosts', knownHosts, '--global-known-hosts', '/dev/null', '--remote-command', remote, '-l', 'root', '-F', '/dev/null', '--no-mdns', '-i', inv, 'viajump'],
      { env: { SSH_AUTH_SOCK: '' } },
    );
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^viajump\s+no servers$/m);
    const log = readFileSync(join(h3.dir, 'sshd', 'sshd.log'), 'utf8');
    expect(log).toContain(`Accepted publickey for root from ${h2.ip}`);
  });

  it('authenticates with ssh-agent when no key file is usable', async () => {
    const sock = join(dir, 'agent.sock');
    const out = execFileSync('ssh-agent', ['-a', sock], { encoding: 'utf8' });
    const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1]);
    try {
      execFileSync('ssh-add', ['-q', join(dir, 'id')], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const args = ['node', FLEET, 'status', '--identity', join(dir, 'no-such-key'), '--known-hosts', knownHosts, '--global-known-hosts', '/dev/null', '--remote-command', remote, '-l', 'root', '-F', '/dev/null', '--no-mdns', '-i', inventory, 'h2'];
      const viaAgent = await ctl.exec(args, { env: { SSH_AUTH_SOCK: sock } });
      expect(viaAgent.exitCode, viaAgent.stdout + viaAgent.stderr).toBe(0);
      const noAgent = await ctl.exec(args, { env: { SSH_AUTH_SOCK: '' } });
      expect(noAgent.exitCode).toBe(6);
      expect(noAgent.stdout).toContain('no keys: no ssh-agent and no identity file');
    } finally {
      process.kill(agentPid, 'SIGTERM');
    }
  });

  it('takes HostName, User and IdentityFile from an ssh config; openssh with ControlMaster reuses one connection', async () => {
    const cfg = join(dir, 'ssh_config');
    writeFileSync(cfg, `Host alias2 alias3\n  User root\n  IdentityFile ${join(dir, 'id')}\nHost alias2\n  HostName ${lan.host('h2').ip}\nHost alias3\n  HostName ${lan.host('h3').ip}\n`);
    const base = ['--known-hosts', knownHosts, '--global-known-hosts', '/dev/null', '--remote-command', remote, '-F', cfg, '--no-mdns', '--json'];
    const r = await ctl.exec(['node', FLEET, 'status', ...base, '--ssh-config-hosts'], { env: { SSH_AUTH_SOCK: '' } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { hosts: (StatusDoc['hosts'][number] & { hostname: string; source: string })[] };
    expect(doc.hosts.map((h) => [h.name, h.hostname, h.source])).toEqual([
      ['alias2', lan.host('h2').ip, 'ssh-config'],
      ['alias3', lan.host('h3').ip, 'ssh-config'],
    ]);
    const before = readFileSync(join(lan.host('h2').dir, 'sshd', 'sshd.log'), 'utf8').split('Accepted publickey').length;
    const cm = await ctl.exec(['node', FLEET, 'stop', ...base, '--transport', 'openssh', '--control-master', 'alias2'], { env: { SSH_AUTH_SOCK: '' } });
    expect(cm.exitCode, cm.stdout + cm.stderr).toBe(0);
    // One authentication for the probe and the command together.
    expect(readFileSync(join(lan.host('h2').dir, 'sshd', 'sshd.log'), 'utf8').split('Accepted publickey').length - before).toBe(1);
  });

  it('a non-root login: actions through real sudo -n where a NOPASSWD rule allows them, a clear sudo failure where none does; status and --sudo never without sudo', async () => {
    try {
      execFileSync('id', ['bench'], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['-m', '-s', '/bin/sh', 'bench']);
    }
    execFileSync('usermod', ['-p', '*', 'bench']); // unlocked for key login (sshd with UsePAM no)
    const h2 = lan.host('h2');
    const h3 = lan.host('h3');
    const as = (cmd: string, opts: string[], targets: string, after: string[] = []) =>
      ctl.exec(
        ['node', FLEET, cmd, '--identity', join(dir, 'id'), '--known-hosts', knownHosts, '--global-known-hosts', '/dev/null', '--remote-command', remote,
          '-l', 'bench', '-F', '/dev/null', '--no-mdns', '-i', inventory, '-u', '60', ...opts, targets, ...after],
        { env: { SSH_AUTH_SOCK: '' }, timeoutMs: 90_000 },
      );
    const byName = (doc: ActionDoc) => new Map(doc.hosts.map((h) => [h.name, h]));
    const running = async (h: LanHost) => (await serversOn(h)).filter((x) => x.state === 'running');
    // h2 lets bench run exactly the stap-server command as root; h3 has no rule for bench. h2's sessions
    // start with umask 077 (a hardened login), which sudo would pass on to the service as root.
    await h2.allowSudo('bench', [remote]);
    const pub = readFileSync(join(dir, 'id.pub'), 'utf8');
    await h2.startSshd({ authorizedKeys: [pub], umask: 0o077 });
    try {
      // status reads as the login user on both hosts: no sudo, so no rule needed
      const status = await as('status', ['--json'], 'h2,h3');
      expect(status.exitCode, status.stdout + status.stderr).toBe(0);
      expect((JSON.parse(status.stdout) as StatusDoc).hosts.map((h) => h.category)).toEqual(['ok', 'ok']);

      const start = await as('start', ['--json'], 'h2,h3', ['--', '-r', REL]);
      const started = byName(JSON.parse(start.stdout) as ActionDoc);
      expect(started.get('h2')!.category, start.stdout).toBe('ok');
      const refused = started.get('h3')!;
      expect(refused.category).toBe('failed');
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr.trim()).toBe('sudo: a password is required');
      expect(refused.shortMessage).toMatch(/^h3: sudo -n did not run the command as root for 'bench': a password is required \(allow the command without a password/);
      // sudo -n refuses at once instead of waiting for a password nobody types
      expect((JSON.parse(start.stdout) as { hosts: { name: string; durationMs: number }[] }).hosts.find((h) => h.name === 'h3')!.durationMs).toBeLessThan(COMMAND_S * 1000);
      expect(start.exitCode).toBe(3);
      // verified on the hosts themselves: h2 runs the server, started by root (root-owned stat file, as
      // bench could not have written /run/stap-server); h3 runs none
      const h2Servers = await serversOn(h2);
      expect(h2Servers.filter((x) => x.state === 'running').map((x) => x.releases)).toEqual([[REL]]);
      expect((await h2.exec(['stat', '-c', '%U', h2Servers[0]!.statFile])).stdout.trim()).toBe('root');
      expect(await running(h3)).toEqual([]);
      // the state root wrote is readable by the login user's status (no sudo): sudo ran it with umask 022
      const seen = await as('status', ['--json'], 'h2');
      expect(seen.exitCode, seen.stdout + seen.stderr).toBe(0);
      const h2Status = (JSON.parse(seen.stdout) as StatusDoc).hosts[0]!;
      expect(h2Status.servers.map((x) => [x.verdict.startsWith('running'), x.releases]), seen.stdout).toEqual([[true, [REL]]]);
      expect((await h2.exec(['stat', '-c', '%a', h2Servers[0]!.statFile])).stdout.trim()).toBe('644');

      // --sudo never: the action runs as bench itself and fails on root's state; sudo is not involved
      const never = byName(JSON.parse((await as('stop', ['--json', '--sudo', 'never'], 'h2')).stdout) as ActionDoc).get('h2')!;
      expect(never.category).toBe('failed');
      expect(never.stderr + never.shortMessage).not.toMatch(/sudo/);
      expect(await running(h2)).toHaveLength(1);

      // text output: the stop through sudo on h2, sudo's refusal on h3 in its own block
      const stop = await as('stop', [], 'h2,h3');
      expect(stop.stdout).toMatch(/^---------------- h3 \(1\) exit code 1 ----------------\nsudo: a password is required$/m);
      expect(stop.stdout).toMatch(/^---------------- h2 \(1\) ok ----------------$/m);
      expect(stop.exitCode).toBe(3);
      expect(await running(h2)).toEqual([]);
      // the openssh transport reports sudo's refusal the same way; --sudo always takes status through sudo too
      const viaSsh = byName(JSON.parse((await as('start', ['--json', '--transport', 'openssh'], 'h3', ['--', '-r', REL])).stdout) as ActionDoc).get('h3')!;
      expect(viaSsh.shortMessage).toMatch(/^h3: sudo -n did not run the command as root for 'bench': a password is required \(/);
      expect((await as('status', ['--sudo', 'always'], 'h2')).exitCode).toBe(0);
      const statusRefused = (JSON.parse((await as('status', ['--json', '--sudo', 'always'], 'h3')).stdout) as StatusDoc).hosts[0]!;
      expect([statusRefused.category, statusRefused.shortMessage]).toEqual(['failed', expect.stringMatching(/^h3: sudo -n did not run the command as root for 'bench': a password is required \(/)]);
    } finally {
      await h2.startSshd({ authorizedKeys: [pub] });
      h2.revokeSudo('bench');
      await h2.exec(['node', STAP_SERVER, 'stop'], { timeoutMs: 60_000 });
    }
    // the rule is gone: h2 refuses like h3 did
    const after = byName(JSON.parse((await as('start', ['--json'], 'h2', ['--', '-r', REL])).stdout) as ActionDoc).get('h2')!;
    expect(after.shortMessage).toMatch(/^h2: sudo -n did not run the command as root for 'bench': a password is required/);
  });

  it('the openssh transport gives the same categories', async () => {
    // One `ssh` process per command costs more CPU than ssh2: a longer command timeout on this shared machine.
    const r = await fleet(['status', '@all', '--json', '--transport', 'openssh', '-u', '15']);
    const doc = JSON.parse(r.stdout) as StatusDoc;
    const by = new Map(doc.hosts.map((h) => [h.name, h.category]));
    for (const h of ok()) expect(by.get(h.name), h.name).toBe('ok');
    expect(by.get('h13')).toBe('auth');
    expect(by.get('h14')).toBe('hostkey');
    expect(by.get('h15')).toBe('timeout');
    expect(r.exitCode).toBe(7);
  });
});
