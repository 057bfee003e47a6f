/**
 * `stap-fleet trust` end to end on the test LAN: real compile servers (our stap-serverd as stap-server,
 * advertised with avahi-publish like stap-serverd's TXT), real sshd on every client, real SystemTap 4.8
 * `stap` clients and real NSS databases (each host has its own /etc/systemtap and /root/.systemtap).
 * The controller runs inside h1's namespace (it browses mDNS, which never happens in the root namespace).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, chownSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { createLan, sleep, waitFor, type Lan, type LanHost } from '../../lan/index.js';
import { mapLimit } from '../../lan/proc.js';
import { readReady } from '../../local/serverd/helpers/daemon.js';
import { pemBlocksToDer } from '../../../src/trust/nss.js';
import { certinfoOf } from '../../../src/trust/cert.js';
import { signModuleFile, verifyModuleFile } from '../../../src/trust/signing.js';
import type { TrustDocument } from '../../../src/trust/enroll/report.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const SERVERD = join(ROOT, 'dist/bin/stap-serverd.js');
const STAP_SERVER = join(ROOT, 'dist/bin/stap-server.js');
const FLEET = join(ROOT, 'dist/bin/stap-fleet.js');
const N_SERVERS = 3;
const N_CLIENTS = 10; // the 10 clients, each a real host with sshd + stap
const RELEASE = readdirSync('/lib/modules').find((r) => {
  try {
    readFileSync(`/lib/modules/${r}/build/.config`);
    return true;
  } catch {
    return false;
  }
})!;
const SCRIPT = 'probe begin { exit() }';

let lan: Lan;
let T: string;
let servers: { host: LanHost; port: number; certinfo: string; ssl: string; child: ChildProcess; addr: string }[] = [];
let clients: LanHost[] = [];
let deadClient: LanHost;
let controller: LanHost;
const publishers: ChildProcess[] = [];

async function startServer(host: LanHost, sslName: string): Promise<{ port: number; certinfo: string; ssl: string; child: ChildProcess }> {
  const ssl = `/var/lib/stap-server/${sslName}`;
  const child = host.spawn(
    [process.execPath, SERVERD, '-r', RELEASE, '--ssl', ssl, '--log', `/var/lib/stap-server/${sslName}.log`],
    { user: 'stap-server', stdio: ['ignore', 'ignore', 'ignore', 'pipe'] },
  );
  const ready = await readReady(child, 60_000);
  if (!ready.port || !ready.certinfo) throw new Error(`${host.name}: stap-serverd did not start: ${ready.line}`);
  return { port: ready.port, certinfo: ready.certinfo, ssl, child };
}

function publish(host: LanHost, name: string, port: number, certinfo: string): void {
  // The TXT records stap-serverd 4.8 publishes (reference section 2).
  publishers.push(
    host.spawn(['avahi-publish', '-s', name, '_stap._tcp', String(port), `sysinfo=${RELEASE} x86_64`, 'optinfo=', 'version=4.8', `certinfo=${certinfo}`]),
  );
}

async function fleetTrust(args: string[], from: LanHost = controller): Promise<{ exitCode: number | null; stdout: string; stderr: string; doc?: TrustDocument }> {
  const r = await from.exec(
    [
      process.execPath, FLEET, 'trust',
      '-i', join(T, 'inventory'), '-F', '/dev/null', '-l', 'root', '--identity', join(T, 'id_ed25519'),
      '--known-hosts', join(T, 'known_hosts'), '--global-known-hosts', '/dev/null', '-t', '5', '--mdns-timeout', '5000', '--mdns-quiet', '800',
      ...args,
    ],
    { timeoutMs: 120_000, env: { NO_COLOR: '1' } },
  );
  let doc: TrustDocument | undefined;
  if (args.includes('--json')) doc = JSON.parse(r.stdout) as TrustDocument;
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, doc };
}

const clientSet = () => `h[${N_SERVERS + 1}-${N_SERVERS + N_CLIENTS}]`;

async function dbCertinfos(host: LanHost, dir: string): Promise<string[]> {
  const r = await host.exec(['certutil', '-L', '-d', `sql:${dir}`, '-n', 'stap-server', '-a']);
  if (r.exitCode !== 0) return [];
  return pemBlocksToDer(r.stdout).map(certinfoOf).sort();
}

async function compile(host: LanHost, useServer: string, extra: string[] = []): Promise<{ exitCode: number | null; out: string }> {
  const r = await host.exec(['stap', `--use-server=${useServer}`, '-r', RELEASE, '-p2', ...extra, '-e', SCRIPT], { timeoutMs: 60_000 });
  return { exitCode: r.exitCode, out: r.stdout + r.stderr };
}

beforeAll(async () => {
  T = mkdtempSync(join(tmpdir(), 'sf-trust-lan-'));
  chmodSync(T, 0o755);
  lan = await createLan({ hosts: N_SERVERS + N_CLIENTS + 1, tag: 'trst', avahi: true });
  controller = lan.hosts[0]!;
  clients = lan.hosts.slice(N_SERVERS, N_SERVERS + N_CLIENTS);
  deadClient = lan.hosts[N_SERVERS + N_CLIENTS]!; // no sshd: unreachable

  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(T, 'id_ed25519')]);
  const pub = readFileSync(join(T, 'id_ed25519.pub'), 'utf8');
  const known: string[] = [];
  const inventory: string[] = [];
  await Promise.all(
    clients.map(async (c) => {
      const info = await c.startSshd({ authorizedKeys: [pub] });
      known.push(info.knownHostsLine);
    }),
  );
  for (const h of [...clients, deadClient]) inventory.push(`${h.name} host=${h.ip}`);
  writeFileSync(join(T, 'known_hosts'), known.join('\n') + '\n');
  writeFileSync(join(T, 'inventory'), `[clients]\n${inventory.join('\n')}\n`);

  // One after the other: a certificate serial is the generation time in 0.52 s ticks (like stap-serverd),
  // and two servers generated in the same tick would share a certinfo (see the conflict handling).
  for (const host of lan.hosts.slice(0, N_SERVERS)) {
    servers.push({ host, addr: host.ip, ...(await startServer(host, 'ssl')) });
    await sleep(600);
  }
  for (const s of servers) publish(s.host, `Systemtap Compile Server on ${s.host.name}`, s.port, s.certinfo);
  // Registered (probing done) on every server host, then a quiet second: avahi answers a given record
  // at most once a second (RFC 6762 6), and avahi-browse has just asked.
  await waitFor('servers advertised', async () => (await controller.avahiBrowse('_stap._tcp')).length >= N_SERVERS, 30_000, 300);
  await sleep(1500);
}, 300_000);

afterAll(async () => {
  for (const p of publishers) p.kill('SIGTERM');
  await lan?.destroy();
  if (T) rmSync(T, { recursive: true, force: true });
});

describe('stap-fleet trust on the LAN', () => {
  it('--dry-run prints the plan and changes nothing', async () => {
    const r = await fleetTrust([clientSet(), '--dry-run', '--json']);
    expect(r.exitCode, JSON.stringify(r.doc?.servers) + r.stderr).toBe(0);
    expect(r.doc!.servers.map((s) => s.certinfo).sort()).toEqual(servers.map((s) => s.certinfo).sort());
    for (const c of r.doc!.clients) expect(Object.values(c.cells)).toEqual(['planned-add', 'planned-add', 'planned-add']);
    expect(await dbCertinfos(clients[0]!, '/root/.systemtap/ssl/client')).toEqual([]);
  });

  it('enrolls every mDNS-advertised server on every client (verified), lists the unreachable client, others proceed', async () => {
    const r = await fleetTrust([`${clientSet()},${deadClient.name}`, '--json']);
    const doc = r.doc!;
    expect(doc.servers.length, r.stdout + r.stderr).toBe(N_SERVERS);
    expect(doc.summary.unreachable).toEqual([deadClient.name]);
    expect(r.exitCode).toBe(5);
    expect(doc.summary.changed.sort()).toEqual(clients.map((c) => c.name).sort());
    for (const c of doc.clients.filter((x) => x.client !== deadClient.name)) {
      expect(Object.values(c.cells)).toEqual(['added', 'added', 'added']);
      // the clients have stap and reach the servers: stap --trust-servers itself added the trust
      expect(Object.values(c.detail).flat().map((d) => d.method)).toEqual(['stap', 'stap', 'stap']);
    }
    // independently, on every client, with certutil
    const want = servers.map((s) => s.certinfo).sort();
    for (const c of clients) expect(await dbCertinfos(c, '/root/.systemtap/ssl/client')).toEqual(want);
  });

  it('every client compiles through each server with stap --use-server (by address and by mDNS selection)', async () => {
    const runs = await Promise.all(
      clients.flatMap((c) => servers.map(async (s) => ({ c: c.name, s: s.host.name, r: await compile(c, `${s.addr}:${s.port}`) }))),
    );
    for (const x of runs) expect(x.r.exitCode, `${x.c} -> ${x.s}: ${x.r.out}`).toBe(0);
    // mDNS selection: stap resolves the certinfo through Avahi on the client, in a fixed 0.5 s browse window of
    // its own; 30 clients at once on 2 cores would test that window under load rather than our enrollment.
    const pairs = clients.flatMap((c) => servers.map((s) => ({ c, s })));
    const byMdns = await mapLimit(pairs, 3, async ({ c, s }) => ({ c: c.name, s: s.certinfo, r: await compile(c, s.certinfo) }));
    for (const x of byMdns) expect(x.r.exitCode, `${x.c} -> ${x.s}: ${x.r.out}`).toBe(0);
  });

  it('a second run reports no change', async () => {
    const r = await fleetTrust([clientSet()]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/No change/);
    expect(r.stdout).toMatch(new RegExp(`0 changed, ${N_CLIENTS} unchanged`));
  });

  it('--revoke of one server removes exactly its certificate; clients then refuse it with stap\'s certificate error', async () => {
    const victim = servers[1]!;
    const r = await fleetTrust([clientSet(), '--revoke', '--server', `${victim.addr}:${victim.port}`, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const c of r.doc!.clients) expect(Object.values(c.cells)).toEqual(['revoked']);
    const keep = servers.filter((s) => s !== victim).map((s) => s.certinfo).sort();
    for (const c of clients) expect(await dbCertinfos(c, '/root/.systemtap/ssl/client')).toEqual(keep);
    // stap prints the NSS error only from -vv on
    const refused = await Promise.all(clients.map((c) => compile(c, `${victim.addr}:${victim.port}`, ['-vv'])));
    for (const x of refused) {
      expect(x.exitCode).not.toBe(0);
      expect(x.out, x.out).toMatch(/SEC_ERROR_CA_CERT_INVALID/);
    }
    const still = await compile(clients[0]!, `${servers[0]!.addr}:${servers[0]!.port}`);
    expect(still.exitCode, still.out).toBe(0);
    // revoking again changes nothing
    const again = await fleetTrust([clientSet(), '--revoke', '--server', `${victim.addr}:${victim.port}`, '--json']);
    expect(again.doc!.summary.changed).toEqual([]);
    expect(again.exitCode).toBe(0);
  });

  it('falls back to certutil when the client\'s stap cannot reach the address the controller used', async () => {
    // Controller on the revoked server's own host, using its loopback address: valid for collecting,
    // useless to the clients' stap (their loopback has no server), so certutil installs the certificate.
    const victim = servers[1]!;
    const r = await fleetTrust([clientSet(), '--server', `127.0.0.1:${victim.port}=${victim.certinfo}`, '--json'], victim.host);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    for (const c of r.doc!.clients) {
      expect(Object.values(c.cells)).toEqual(['added']);
      expect(Object.values(c.detail).flat().map((d) => d.method)).toEqual(['certutil']);
    }
    const ok = await compile(clients[2]!, `${victim.addr}:${victim.port}`);
    expect(ok.exitCode, ok.out).toBe(0);
  });

  it('--method certutil into a database that does not exist yet: one batch creates it, 0644 like stap\'s, and the client\'s stap uses it', async () => {
    const s = servers[0]!;
    const base = '/var/lib/stap-server/fresh-certutil'; // per host in the LAN views; nothing there yet
    const r = await fleetTrust([clientSet(), '--method', 'certutil', '--systemtap-dir', base, '--server', `${s.addr}:${s.port}`, '--json']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    for (const c of r.doc!.clients) {
      expect(Object.values(c.cells)).toEqual(['added']);
      expect(Object.values(c.detail).flat().map((d) => [d.dir, d.method])).toEqual([[`${base}/ssl/client`, 'certutil']]);
    }
    for (const c of clients) {
      expect(await dbCertinfos(c, `${base}/ssl/client`)).toEqual([s.certinfo]);
      for (const f of ['cert9.db', 'key4.db']) expect(statSync(c.path(`${base}/ssl/client/${f}`)).mode & 0o777).toBe(0o644);
    }
    const ok = await clients[1]!.exec(['stap', `--use-server=${s.addr}:${s.port}`, '-r', RELEASE, '-p2', '-e', SCRIPT], { env: { SYSTEMTAP_DIR: base }, timeoutMs: 60_000 });
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
    const again = await fleetTrust([clientSet(), '--method', 'certutil', '--systemtap-dir', base, '--server', `${s.addr}:${s.port}`, '--json']);
    expect(again.doc!.noChange).toBe(true);
  });

  it('--signer --all-users puts the certificate in each client\'s /etc/systemtap/staprun; a .sgn made with that server\'s key verifies against it', async () => {
    const s = servers[0]!;
    const r = await fleetTrust([clientSet(), '--signer', '--all-users', '--server', `${s.addr}:${s.port}=${s.certinfo}`, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const c of clients) {
      expect(await dbCertinfos(c, '/etc/systemtap/staprun')).toEqual([s.certinfo]);
      const st = await c.exec(['stat', '-c', '%u %a', '/etc/systemtap/staprun']);
      expect(st.stdout.trim()).toBe('0 755');
    }
    // sign a module-sized file with the server's own key, verify with the cert read from a client's staprun db
    const ko = join(T, 'stap_test.ko');
    writeFileSync(ko, Buffer.alloc(4096, 7));
    const key = readFileSync(s.host.path(`${s.ssl}/stap.key`), 'utf8');
    signModuleFile(ko, key, 'sha1');
    const pem = (await clients[1]!.exec(['certutil', '-L', '-d', 'sql:/etc/systemtap/staprun', '-n', 'stap-server', '-a'])).stdout;
    const [der] = pemBlocksToDer(pem);
    expect(verifyModuleFile(ko, der!).ok).toBe(true);
    // and a tampered module does not
    const bytes = readFileSync(ko);
    bytes[10] ^= 0xff;
    writeFileSync(ko, bytes);
    expect(verifyModuleFile(ko, der!).ok).toBe(false);
  });

  it('a non-root login: per-user trust lands in that user\'s database; signer/all-users trust through real sudo where a rule allows it, a clear failure where none does', async () => {
    const user = 'trusttest';
    const home = `/var/lib/stap-server/${user}`; // a per-host directory in the LAN views
    try {
      execFileSync('id', [user], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['-M', '-d', home, '-s', '/bin/sh', user]);
    }
    execFileSync('usermod', ['-p', '*', user]); // unlock for key login (sshd with UsePAM no)
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));
    for (const c of clients) {
      mkdirSync(c.path(home), { recursive: true });
      chownSync(c.path(home), uid, gid);
    }
    const s = servers[2]!;
    const r = await fleetTrust([clientSet(), '-l', user, '--server', `${s.addr}:${s.port}`, '--json']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    for (const c of r.doc!.clients) expect(c.detail[Object.keys(c.cells)[0]!]![0]!.dir).toBe(`${home}/.systemtap/ssl/client`);
    for (const c of clients) expect(await dbCertinfos(c, `${home}/.systemtap/ssl/client`)).toEqual([s.certinfo]);
    // the user's own stap now trusts the server
    const ok = await clients[0]!.exec(['stap', `--use-server=${s.addr}:${s.port}`, '-r', RELEASE, '-p2', '-e', SCRIPT], { user, timeoutMs: 60_000 });
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);

    const never = await fleetTrust([clientSet(), '-l', user, '--signer', '--sudo', 'never', '--server', `${s.addr}:${s.port}`, '--json']);
    expect(never.exitCode).toBe(3);
    for (const c of never.doc!.clients) {
      expect(c.category).toBe('failed');
      expect(c.message).toMatch(/signer\/all-users trust needs root; login user is 'trusttest'/);
    }
    // Real sudo: the first half of the clients lets the user run the enrollment shell as root without a
    // password (the rule the docs give); the second half has no rule. --ssl --all-users --signer: both
    // root databases (--signer alone is the signer database only, as with stap --trust-servers). One of the first half has no root
    // databases yet, so they are created through sudo.
    const withRule = clients.slice(0, N_CLIENTS / 2);
    const without = clients.slice(N_CLIENTS / 2);
    for (const c of withRule) await c.allowSudo(user, ['/bin/sh -s']);
    const fresh = withRule[0]!;
    await fresh.exec(['rm', '-rf', '/etc/systemtap/staprun', '/etc/systemtap/ssl/client']);
    // and its logins are hardened (umask 077): what sudo creates must still be readable by everyone
    const pub = readFileSync(join(T, 'id_ed25519.pub'), 'utf8');
    await fresh.startSshd({ authorizedKeys: [pub], umask: 0o077 });
    try {
      const auto = await fleetTrust([clientSet(), '-l', user, '--ssl', '--all-users', '--signer', '--server', `${s.addr}:${s.port}=${s.certinfo}`, '--json']);
      expect(auto.exitCode, auto.stdout + auto.stderr).toBe(3);
      const by = new Map(auto.doc!.clients.map((c) => [c.client, c]));
      for (const c of withRule) {
        const out = by.get(c.name)!;
        expect(out.category, `${c.name}: ${out.message}`).toBe('ok');
        expect(Object.values(out.cells)).toEqual(['added']);
        // the client's own stap (run as root by sudo) added the trust
        expect(Object.values(out.detail).flat().map((d) => [d.dir, d.method]).sort()).toEqual([
          ['/etc/systemtap/ssl/client', 'stap'],
          ['/etc/systemtap/staprun', 'stap'],
        ]);
        // independently, on the host: both root databases hold the server's certificate, root-owned and readable
        expect(await dbCertinfos(c, '/etc/systemtap/staprun')).toContain(s.certinfo);
        expect(await dbCertinfos(c, '/etc/systemtap/ssl/client')).toContain(s.certinfo);
        for (const d of ['/etc/systemtap/staprun', '/etc/systemtap/ssl/client']) {
          expect((await c.exec(['stat', '-c', '%u %a', d])).stdout.trim(), `${c.name} ${d}`).toBe('0 755');
          for (const f of ['cert9.db', 'key4.db']) expect((await c.exec(['stat', '-c', '%u %a', `${d}/${f}`])).stdout.trim(), `${c.name} ${d}/${f}`).toBe('0 644');
        }
      }
      expect(await dbCertinfos(fresh, '/etc/systemtap/staprun')).toEqual([s.certinfo]);
      // stap on that host trusts the server through the all-users database sudo wrote, and nothing else
      // (an empty SYSTEMTAP_DIR of its own). As root: SystemTap 4.8's client opens every database it
      // reads read-write, so a non-root user's stap fails on this root-owned one (SEC_ERROR_READ_ONLY,
      // as with a database stap --trust-servers=ssl,all-users made itself; docs/trust.md).
      await fresh.exec(['rm', '-rf', '/var/lib/stap-server/stapdir-empty']);
      const viaAllUsers = await fresh.exec(['stap', `--use-server=${s.addr}:${s.port}`, '-r', RELEASE, '-p2', '-e', SCRIPT], { env: { SYSTEMTAP_DIR: '/var/lib/stap-server/stapdir-empty' }, timeoutMs: 60_000 });
      expect(viaAllUsers.exitCode, viaAllUsers.stdout + viaAllUsers.stderr).toBe(0);
      const userStap = await fresh.exec(['stap', `--use-server=${s.addr}:${s.port}`, '-r', RELEASE, '-p2', '-e', SCRIPT], { user, timeoutMs: 60_000 });
      // ...while a user whose own database trusts the server is unaffected (stap reads that one first)
      expect(userStap.exitCode, userStap.stdout + userStap.stderr).toBe(0);
      // a module signed with that server's key verifies against the staprun database sudo wrote
      const ko = join(T, 'stap_sudo.ko');
      writeFileSync(ko, Buffer.alloc(4096, 9));
      signModuleFile(ko, readFileSync(s.host.path(`${s.ssl}/stap.key`), 'utf8'), 'sha1');
      const [der] = pemBlocksToDer((await fresh.exec(['certutil', '-L', '-d', 'sql:/etc/systemtap/staprun', '-n', 'stap-server', '-a'])).stdout);
      expect(verifyModuleFile(ko, der!).ok).toBe(true);
      // without a rule: sudo -n refuses at once, the report names sudo and the way out, nothing is written
      for (const c of without) {
        const out = by.get(c.name)!;
        expect(out.category).toBe('failed');
        expect(out.message).toMatch(new RegExp(`^${c.name}: sudo: a password is required \\(signer/all-users need root: allow passwordless sudo for the login user, or log in as root\\)$`));
        expect(await dbCertinfos(c, '/etc/systemtap/staprun')).not.toContain(s.certinfo);
      }
      // a second run through sudo changes nothing
      const again = await fleetTrust([withRule.map((c) => c.name).join(','), '-l', user, '--ssl', '--all-users', '--signer', '--server', `${s.addr}:${s.port}=${s.certinfo}`, '--json']);
      expect(again.exitCode, again.stdout + again.stderr).toBe(0);
      expect(again.doc!.noChange).toBe(true);
    } finally {
      for (const c of withRule) c.revokeSudo(user);
      await fresh.startSshd({ authorizedKeys: [pub] });
    }
  });

  it('--server-hosts: servers read over SSH from their host (stap-server status --json + stap.cert), checked against TLS', async () => {
    const host = servers[1]!.host;
    const sshd = await host.startSshd({ authorizedKeys: [readFileSync(join(T, 'id_ed25519.pub'), 'utf8')] });
    writeFileSync(join(T, 'known_hosts'), readFileSync(join(T, 'known_hosts'), 'utf8') + sshd.knownHostsLine + '\n');
    writeFileSync(join(T, 'inventory'), readFileSync(join(T, 'inventory'), 'utf8') + `[servers]\n${host.name} host=${host.ip}\n`);
    // A server managed by our stap-server service (defaults: every path is in the host's own view)
    const svc = [process.execPath, STAP_SERVER];
    const started = await host.exec([...svc, 'start', '-r', RELEASE], { env: { STAP_FLEET_AGENT: 'off' }, timeoutMs: 60_000 });
    expect(started.exitCode, started.stdout + started.stderr).toBe(0);
    try {
      const status = JSON.parse((await host.exec([...svc, 'status', '--json'])).stdout) as { servers: { port: number; certinfo: string; state: string }[] };
      const managed = status.servers.find((x) => x.state === 'running')!;
      expect(managed.certinfo).toMatch(/^00:/);
      const r = await fleetTrust([clientSet(), '--server-hosts', host.name, '--remote-command', `${process.execPath} ${STAP_SERVER}`, '--json']);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const srv = r.doc!.servers.find((x) => x.source === 'ssh')!;
      expect(srv).toMatchObject({ status: 'ok', port: managed.port, certinfo: managed.certinfo });
      for (const c of r.doc!.clients) expect(Object.values(c.cells)).toEqual(['added']);
      for (const c of clients) expect(await dbCertinfos(c, '/root/.systemtap/ssl/client')).toContain(managed.certinfo);
      const ok = await compile(clients[3]!, `${host.ip}:${managed.port}`);
      expect(ok.exitCode, ok.out).toBe(0);
    } finally {
      await host.exec([...svc, 'stop'], { timeoutMs: 60_000 });
    }
  });

  it('a rogue advertisement copying a real certinfo but presenting another certificate is refused', async () => {
    const real = servers[0]!;
    const rogueHost = servers[2]!.host;
    const rogue = await startServer(rogueHost, 'ssl-rogue');
    expect(rogue.certinfo).not.toBe(real.certinfo);
    publish(rogueHost, `Systemtap Compile Server on ${real.host.name} #2`, rogue.port, real.certinfo);
    await waitFor('rogue advertisement', async () => (await controller.avahiBrowse('_stap._tcp')).some((e) => e.port === rogue.port), 20_000, 200);
    // avahi multicasts a record at most once a second (RFC 6762 6): let our browse get a fresh answer.
    await sleep(1500);
    try {
      const r = await fleetTrust([clientSet(), '--json']);
      const doc = r.doc!;
      const spoof = doc.servers.find((x) => x.port === rogue.port);
      expect(spoof?.status).toBe('spoof');
      expect(spoof?.message).toMatch(/possible spoof/);
      expect(r.exitCode).toBe(3);
      // the rogue certificate went nowhere
      for (const c of clients) expect(await dbCertinfos(c, '/root/.systemtap/ssl/client')).not.toContain(rogue.certinfo);
      const text = await fleetTrust([clientSet()]);
      expect(text.stdout).toMatch(/SKIPPED \(spoof\)/);
    } finally {
      rogue.child.kill('SIGTERM');
    }
  });

  it('--revoke --certinfo removes by serial without contacting any server', async () => {
    const s = servers[2]!;
    expect(await dbCertinfos(clients[0]!, '/root/.systemtap/ssl/client')).toContain(s.certinfo);
    const r = await fleetTrust([clientSet(), '--revoke', '--certinfo', s.certinfo, '--no-mdns', '--json']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.doc!.servers).toEqual([expect.objectContaining({ status: 'certinfo-only', certinfo: s.certinfo })]);
    for (const c of r.doc!.clients) expect(Object.values(c.cells)).toEqual(['revoked']);
    for (const c of clients) expect(await dbCertinfos(c, '/root/.systemtap/ssl/client')).not.toContain(s.certinfo);
  });
});
