import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { certinfoOf, certinfoOfFile } from '../../../src/trust/cert.js';
import { agentInstanceName, numberedName, serverInstanceName, serverTxt } from '../../../src/local/agent/names.js';
import { assignLocalNames, desiredServices, type LiveServer } from '../../../src/local/agent/model.js';
import { AvahiFileBackend, escapeXml, listOurFiles, serviceFileXml } from '../../../src/local/agent/avahi-files.js';
import { avahiDaemonPid, chooseBackend } from '../../../src/local/agent/detect.js';
import { instanceLabel } from '../../../src/local/agent/embedded.js';

function makeCert(dir: string, serial: string): string {
  const out = join(dir, `c-${serial}`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', join(dir, 'k'), '-subj', '/CN=t', '-days', '1', '-set_serial', serial, '-outform', 'DER', '-out', out], { stdio: 'ignore' });
  return out;
}

describe('certinfo', () => {
  it('is the serial\'s DER bytes as hex pairs, sign byte included, as openssl reports the serial', () => {
    const dir = mkdtempSync(join(tmpdir(), 'certinfo-'));
    try {
      expect(certinfoOfFile(makeCert(dir, '0xcc24bf1d'))).toBe('00:cc:24:bf:1d'); // high bit set: leading 00
      expect(certinfoOfFile(makeCert(dir, '0x1234'))).toBe('12:34');
      const f = makeCert(dir, '0x7a0102030405');
      const serial = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', f, '-noout', '-serial'], { encoding: 'utf8' }).trim();
      expect(certinfoOfFile(f).replace(/:/g, '').toUpperCase()).toBe(serial.replace('serial=', ''));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects what is not a certificate', () => {
    expect(() => certinfoOf(Buffer.from('hello'))).toThrow(/not a DER certificate|truncated/);
    expect(() => certinfoOf(Buffer.from([0x30, 0x05, 0x30, 0x03, 0x01, 0x01, 0x00]))).toThrow(/serial/);
  });
});

describe('names and TXT', () => {
  it('uses stap-serverd\'s instance name, cut to 63 bytes, and Avahi-style numbering', () => {
    expect(serverInstanceName('h1')).toBe('Systemtap Compile Server on h1');
    const long = serverInstanceName('x'.repeat(80));
    expect(Buffer.byteLength(long)).toBe(63);
    expect(numberedName(long, 2)).toHaveLength(63);
    expect(numberedName(long, 2).endsWith(' #2')).toBe(true);
    expect(numberedName('a', 1)).toBe('a');
    expect(agentInstanceName('h1')).toBe('stap-agent on h1');
  });

  it('writes TXT sysinfo/optinfo/version/certinfo like stap-serverd', () => {
    expect(serverTxt('6.1.0-56-amd64', 'x86_64', '-DX=1 -I/t', '00:aa')).toEqual([
      'sysinfo=6.1.0-56-amd64 x86_64',
      'optinfo=-DX=1 -I/t',
      'version=4.8',
      'certinfo=00:aa',
    ]);
  });

  it('keeps dots out of DNS labels in the embedded responder', () => {
    expect(instanceLabel('Systemtap Compile Server on a.b.c')).toBe('Systemtap Compile Server on a-b-c');
  });
});

describe('desired services', () => {
  const server = (pid: number, releases: string[]): LiveServer => ({
    pid, port: 7000 + pid, arch: 'x86_64', releases, optinfo: '', certinfo: '00:01', certinfoSource: 'cert', sslDir: '/s',
  });

  it('one service per release plus the host record with the server count', () => {
    const d = desiredServices([server(20, ['r2']), server(10, ['r1', 'r1b'])], { hostname: 'h1', agentVersion: '9.9', sshPort: 2222, advertiseAgent: true });
    expect(d.map((x) => x.key)).toEqual(['10-r1', '10-r1b', '20-r2', 'agent']);
    expect(d[0]).toMatchObject({ type: '_stap._tcp', baseName: 'Systemtap Compile Server on h1', port: 7010, release: 'r1', serverPid: 10 });
    expect(d[3]).toMatchObject({ type: '_stap-agent._tcp', port: 2222, txt: ['agent=9.9', 'host=h1', 'ssh=2222', 'servers=2'] });
  });

  it('instance-host changes names, not the host', () => {
    const d = desiredServices([server(1, ['r'])], { hostname: 'h1', instanceHost: 'twin', agentVersion: '1', sshPort: 22, advertiseAgent: false });
    expect(d).toHaveLength(1);
    expect(d[0]!.baseName).toBe('Systemtap Compile Server on twin');
  });

  it('numbers same-named services locally and keeps names stable while they live', () => {
    const d = desiredServices([server(1, ['a', 'b']), server(2, ['c'])], { hostname: 'h', agentVersion: '1', sshPort: 22, advertiseAgent: false });
    const first = assignLocalNames(d, new Map(), numberedName);
    expect([...first.values()]).toEqual(['Systemtap Compile Server on h', 'Systemtap Compile Server on h #2', 'Systemtap Compile Server on h #3']);
    // The first goes away: the others keep their names; a newcomer takes the freed base name.
    const d2 = desiredServices([server(2, ['c']), server(3, ['d'])], { hostname: 'h', agentVersion: '1', sshPort: 22, advertiseAgent: false });
    const second = assignLocalNames(d2, first, numberedName);
    expect(second.get('2-c')).toBe('Systemtap Compile Server on h #3');
    expect(second.get('3-d')).toBe('Systemtap Compile Server on h');
  });
});

describe('avahi service files', () => {
  it('escapes XML and leaves host-name to Avahi', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    const xml = serviceFileXml('n & <x>', '_stap._tcp', 7777, ['optinfo=-DA="1"', 'version=4.8']);
    expect(xml).toContain('<name replace-wildcards="no">n &amp; &lt;x&gt;</name>');
    expect(xml).toContain('<txt-record>optinfo=-DA=&quot;1&quot;</txt-record>');
    expect(xml).toContain('<port>7777</port>');
    expect(xml).not.toContain('host-name');
  });

  it('writes, rewrites (new mtime second), and removes only its own files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'avahi-svc-'));
    try {
      writeFileSync(join(dir, 'ssh.service'), 'theirs');
      writeFileSync(join(dir, 'stap-fleet-999-old.service'), 'leftover of a dead agent');
      const b = new AvahiFileBackend(dir);
      const d = desiredServices(
        [{ pid: 5, port: 7005, arch: 'x86_64', releases: ['r'], optinfo: '', certinfo: '00:01', certinfoSource: 'cert', sslDir: '/s' }],
        { hostname: 'h', agentVersion: '1', sshPort: 22, advertiseAgent: false },
      );
      const umask = process.umask(0o077); // a hardened root umask must not hide the file from avahi-daemon
      try {
        await b.apply(d);
      } finally {
        process.umask(umask);
      }
      expect(listOurFiles(dir).map((f) => f.slice(dir.length + 1))).toEqual(['stap-fleet-5-r.service']);
      const f = join(dir, 'stap-fleet-5-r.service');
      const { statSync } = await import('node:fs');
      expect((statSync(f).mode & 0o777).toString(8)).toBe('644');
      const m1 = statSync(f).mtimeMs;
      d[0]!.txt = serverTxt('r', 'x86_64', '', '00:02');
      await b.apply(d);
      expect(readFileSync(f, 'utf8')).toContain('certinfo=00:02');
      expect(Math.floor(statSync(f).mtimeMs / 1000)).toBeGreaterThan(Math.floor(m1 / 1000));
      expect(b.snapshot()[0]).toMatchObject({ name: 'Systemtap Compile Server on h', state: 'handed-to-avahi', serverPid: 5 });
      await b.apply([]);
      expect(listOurFiles(dir)).toEqual([]);
      expect(readFileSync(join(dir, 'ssh.service'), 'utf8')).toBe('theirs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('backend choice', () => {
  it('auto: Avahi while it runs or within the restart grace, else embedded; explicit choices win', () => {
    expect(chooseBackend('auto', true, undefined, 0, 10_000)).toBe('avahi');
    expect(chooseBackend('auto', false, undefined, 1e9, 10_000)).toBe('embedded');
    expect(chooseBackend('auto', false, 'avahi', 2_000, 10_000)).toBe('avahi');
    expect(chooseBackend('auto', false, 'avahi', 20_000, 10_000)).toBe('embedded');
    expect(chooseBackend('embedded', true, 'avahi', 0, 10_000)).toBe('embedded');
    expect(chooseBackend('avahi', false, undefined, 1e9, 10_000)).toBe('avahi');
  });

  it('detects avahi-daemon by pid file and process name only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'avahi-pid-'));
    try {
      const pf = join(dir, 'pid');
      expect(avahiDaemonPid(pf)).toBeUndefined();
      writeFileSync(pf, `${process.pid}\n`); // a live process that is not avahi-daemon
      expect(avahiDaemonPid(pf)).toBeUndefined();
      // A fake /proc entry named avahi-daemon.
      const proc = join(dir, 'proc');
      execFileSync('mkdir', ['-p', join(proc, '4242')]);
      writeFileSync(join(proc, '4242', 'comm'), 'avahi-daemon\n');
      writeFileSync(join(proc, '4242', 'stat'), '4242 (avahi-daemon) S 1 2 3');
      writeFileSync(pf, '4242\n');
      expect(avahiDaemonPid(pf, proc)).toBe(4242);
      writeFileSync(join(proc, '4242', 'stat'), '4242 (avahi-daemon) Z 1 2 3');
      expect(avahiDaemonPid(pf, proc)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
