/**
 * Retry with jitter only for connections sshd drops before authentication: a real sshd on loopback (root
 * namespace, no multicast) with MaxStartups 1, reached under eight loopback addresses at once.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotDist } from './snapshot.js';

const SNAP = snapshotDist();
const FLEET = SNAP.bin('stap-fleet');
const PORT = 20000 + (process.pid % 20000);
const ADDRS = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 1}`);

describe('connections dropped before authentication (sshd MaxStartups)', () => {
  let dir: string;
  let sshd: ChildProcess;
  let log: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-maxstartups-'));
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id.pub')), { mode: 0o644 });
    writeFileSync(join(dir, 'status.json'), JSON.stringify({ servers: [], exitCode: 3 }));
    writeFileSync(
      join(dir, 'sshd_config'),
      [...ADDRS.map((a) => `ListenAddress ${a}`), `Port ${PORT}`, `HostKey ${join(dir, 'host')}`, `PidFile ${join(dir, 'pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password', 'UsePAM no', 'StrictModes no', // the keys live under /tmp (sticky, world-writable)
         'MaxStartups 1', 'LogLevel INFO', ''].join('\n'),
    );
    const hostKey = readFileSync(join(dir, 'host.pub'), 'utf8').split(/\s+/).slice(0, 2).join(' ');
    writeFileSync(join(dir, 'known_hosts'), `${ADDRS.map((a) => `[${a}]:${PORT}`).join(',')} ${hostKey}\n`);
    log = join(dir, 'sshd.log');
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config'), '-E', log], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      if ((() => { try { return readFileSync(log, 'utf8').includes('Server listening'); } catch { return false; } })()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`sshd did not start: ${readFileSync(log, 'utf8')}`);
  });
  afterAll(() => {
    sshd?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
    SNAP.remove();
  });

  const fleet = (attempts: number) =>
    JSON.parse(
      execFileSync('node', [FLEET, 'status', '--no-mdns', '--json', '-l', 'root', '-p', String(PORT), '--identity', join(dir, 'id'),
        '--known-hosts', join(dir, 'known_hosts'), '--global-known-hosts', '/dev/null', '-F', '/dev/null',
        '--remote-command', `cat ${join(dir, 'status.json')} #`, '--connect-attempts', String(attempts), '127.0.0.[1-8]'],
      { encoding: 'utf8', env: { ...process.env, SSH_AUTH_SOCK: '' }, stdio: ['ignore', 'pipe', 'pipe'] }).toString(),
    ) as { hosts: { name: string; category: string; shortMessage?: string }[] };

  const runFleet = (attempts: number) => {
    try {
      return fleet(attempts);
    } catch (e) {
      return JSON.parse((e as { stdout: string }).stdout) as ReturnType<typeof fleet>;
    }
  };

  it('without retries some hosts are dropped, and say so', () => {
    const doc = runFleet(1);
    const dropped = doc.hosts.filter((h) => h.category === 'unreachable');
    expect(dropped.length).toBeGreaterThan(0);
    for (const h of dropped) expect(h.shortMessage).toMatch(/connection closed by 127\.0\.0\.\d+:\d+ before authentication/);
    expect(readFileSync(log, 'utf8')).toMatch(/MaxStartups|drop connection/);
  });

  it('with jittered retries every host gets through', () => {
    const doc = runFleet(10);
    expect(doc.hosts.map((h) => [h.name, h.category])).toEqual(ADDRS.map((a) => [a, 'ok']));
  });
});
