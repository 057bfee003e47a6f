/**
 * The shipped samples and units: the real stap-server reads the sample global file and conf.d file without
 * complaint (a bad line would exit 6), the global sample states the documented defaults, and systemd accepts the
 * units as they are in the repository.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const T = mkdtempSync(join(tmpdir(), 'sf-samples-'));

afterAll(() => rmSync(T, { recursive: true, force: true }));

function stapServer(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(ROOT, 'dist/bin/stap-server.js'), ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
}

describe('packaging samples', () => {
  it('the global sample sets the four global variables to their documented defaults', () => {
    const text = readFileSync(join(ROOT, 'packaging/sysconfig/stap-server'), 'utf8');
    const assignments = text.split('\n').filter((l) => /^[A-Z_]+=/.test(l));
    expect(assignments).toEqual([
      'CONFIG_PATH=/etc/stap-server/conf.d',
      'STAT_PATH=/var/run/stap-server',
      'LOG_FILE=/var/log/stap-server/log',
      'STAP_USER=stap-server',
    ]);
  });

  it('stap-server parses both samples (the conf.d server is found by its NICKNAME, not running: exit 3)', () => {
    // The sample global file is the default file; -c then points CONFIG_PATH at the sample conf.d directory.
    const g = join(T, 'global');
    writeFileSync(g, `CONFIG_PATH=${join(ROOT, 'packaging/conf.d')}\nSTAT_PATH=${join(T, 'stat')}\nLOG_FILE=${join(T, 'log')}\n`);
    const r = stapServer(['status', '-c', g, '-n', 'native'], { STAP_SERVER_CONFIG_FILE: join(ROOT, 'packaging/sysconfig/stap-server') });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/^stap-server -a "\S+" -r "\S+" -u "stap-server" -n "native" --log "\S+" is not running$/m);
  });

  it('a broken copy of the sample is refused with file:line (the check above can fail)', () => {
    const dir = join(T, 'broken');
    spawnSync('mkdir', ['-p', dir]);
    copyFileSync(join(ROOT, 'packaging/conf.d/native.conf'), join(dir, 'native.conf'));
    writeFileSync(join(dir, 'native.conf'), readFileSync(join(dir, 'native.conf'), 'utf8') + 'BUILD=`id`\n');
    const g = join(T, 'global-broken');
    writeFileSync(g, `CONFIG_PATH=${dir}\nSTAT_PATH=${join(T, 'stat')}\n`);
    const r = stapServer(['status', '-c', g, '-n', 'native'], { STAP_SERVER_CONFIG_FILE: '/nonexistent' });
    expect(r.status).toBe(6);
    expect(r.stderr).toContain(`${join(dir, 'native.conf')}:`);
  });

  it('systemd accepts both units as shipped', () => {
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(ROOT, 'packaging/systemd/stap-server.service'), join(ROOT, 'packaging/systemd/stap-agent.service')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const unit = readFileSync(join(ROOT, 'packaging/systemd/stap-server.service'), 'utf8');
    expect(unit).toMatch(/^Type=oneshot$/m);
    expect(unit).toMatch(/^ExecStart=.*stap-server start$/m);
    expect(unit).toMatch(/^ExecStop=.*stap-server stop$/m);
  });
});
