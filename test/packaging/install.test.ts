/**
 * scripts/install.sh run for real as root, in a private mount + network namespace whose /etc, /usr/local,
 * /var/log, /var/lib and /run are scratch copies (test/packaging/scratch-root.ts): the user and group, the
 * directories and their owners, the samples, the code, the commands, the units, then the installed service
 * started and stopped from that layout; a second run keeps the admin's edits; --uninstall.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchRoot, type ScratchRoot } from './scratch-root.js';

const ROOT = resolve(import.meta.dirname, '../..');
const INSTALL = join(ROOT, 'scripts/install.sh');
const RELEASE = readdirSync('/lib/modules').find((r) => existsSync(`/lib/modules/${r}/build/.config`))!;
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

let root: ScratchRoot;
let realPasswd: string;
let first: ReturnType<ScratchRoot['run']>;

function passwdEntry(etcPasswd: string, user: string): string[] | undefined {
  return readFileSync(etcPasswd, 'utf8').split('\n').find((l) => l.startsWith(`${user}:`))?.split(':');
}

function mode(p: string): string {
  return (statSync(p).mode & 0o7777).toString(8);
}

beforeAll(() => {
  realPasswd = sha('/etc/passwd');
  root = createScratchRoot();
  first = root.run(`bash ${INSTALL}`);
}, 180_000);

afterAll(() => {
  root?.destroy();
});

describe('scripts/install.sh into a scratch root', () => {
  it('runs as root and reports what it did', () => {
    expect(first.status, first.stderr + first.stdout).toBe(0);
    expect(first.stdout).toContain('install.sh: created group stap-server');
    expect(first.stdout).toContain('install.sh: created user stap-server');
    expect(first.stdout).toContain('install.sh: installed /usr/local/lib/stap-fleet; commands in /usr/local/bin');
    expect(sha('/etc/passwd')).toBe(realPasswd); // the machine's own files are untouched
  });

  it('creates the stap-server system user and group (home /var/lib/stap-server, no login shell)', () => {
    const u = passwdEntry(root.path('/etc/passwd'), 'stap-server')!;
    expect(u).toBeDefined();
    expect(Number(u[2])).toBeLessThan(1000);
    expect(u[5]).toBe('/var/lib/stap-server');
    expect(u[6]).toBe('/usr/sbin/nologin');
    const g = readFileSync(root.path('/etc/group'), 'utf8').split('\n').find((l) => l.startsWith('stap-server:'))!.split(':');
    expect(g[2]).toBe(u[3]); // primary group is stap-server
  });

  it('creates the directories with the right modes and owners', () => {
    const u = passwdEntry(root.path('/etc/passwd'), 'stap-server')!;
    const [uid, gid] = [Number(u[2]), Number(u[3])];
    const expectDir = (p: string, m: string, owner: number, group: number) => {
      const st = statSync(root.path(p));
      expect(st.isDirectory(), p).toBe(true);
      expect([mode(root.path(p)), st.uid, st.gid], p).toEqual([m, owner, group]);
    };
    expectDir('/etc/stap-server', '755', 0, 0);
    expectDir('/etc/stap-server/conf.d', '755', 0, 0);
    expectDir('/etc/sysconfig', '755', 0, 0);
    expectDir('/var/run/stap-server', '755', 0, 0);
    expectDir('/var/log/stap-server', '775', 0, gid);
    expectDir('/var/lib/stap-server', '750', uid, gid);
  });

  it('installs the sample configuration files', () => {
    expect(readFileSync(root.path('/etc/sysconfig/stap-server'), 'utf8')).toBe(readFileSync(join(ROOT, 'packaging/sysconfig/stap-server'), 'utf8'));
    expect(readFileSync(root.path('/etc/stap-server/conf.d/native.conf'), 'utf8')).toBe(readFileSync(join(ROOT, 'packaging/conf.d/native.conf'), 'utf8'));
    expect(mode(root.path('/etc/sysconfig/stap-server'))).toBe('644');
  });

  it('copies the code with production dependencies only, readable by everyone, and links the four commands', () => {
    const lib = root.path('/usr/local/lib/stap-fleet');
    expect(existsSync(join(lib, 'dist/bin/stap-serverd.js'))).toBe(true);
    expect(existsSync(join(lib, 'node_modules/commander/package.json'))).toBe(true);
    expect(existsSync(join(lib, 'node_modules/node-forge/package.json'))).toBe(true);
    expect(existsSync(join(lib, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(join(lib, 'node_modules/vitest'))).toBe(false);
    expect(mode(lib)).toBe('755');
    for (const b of ['stap-server', 'stap-serverd', 'stap-agent', 'stap-fleet']) {
      const link = root.path(`/usr/local/bin/${b}`);
      expect(lstatSync(link).isSymbolicLink(), b).toBe(true);
      expect(readlinkSync(link)).toBe(`/usr/local/lib/stap-fleet/dist/bin/${b}.js`);
      expect(mode(join(lib, `dist/bin/${b}.js`))).toBe('755');
    }
  });

  it('installs both systemd units pointing at the installed commands, and systemd accepts them', () => {
    const unit = readFileSync(root.path('/etc/systemd/system/stap-server.service'), 'utf8');
    expect(unit).toMatch(/^Type=oneshot$/m);
    expect(unit).toMatch(/^RemainAfterExit=yes$/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/stap-server start$/m);
    expect(unit).toMatch(/^ExecStop=\/usr\/local\/bin\/stap-server stop$/m);
    const agent = readFileSync(root.path('/etc/systemd/system/stap-agent.service'), 'utf8');
    expect(agent).toMatch(/^ExecStart=\/usr\/local\/bin\/stap-agent run$/m);
    const v = root.run('systemd-analyze verify --man=no /etc/systemd/system/stap-server.service /etc/systemd/system/stap-agent.service');
    expect(v.status, v.stderr).toBe(0);
  });

  it('the installed commands run, and user stap-server can load the daemon', () => {
    const r = root.run(
      [
        'for b in stap-server stap-serverd stap-agent stap-fleet; do /usr/local/bin/$b --help >/dev/null || { echo "$b failed"; exit 1; }; done',
        'setpriv --reuid stap-server --regid stap-server --init-groups -- /usr/local/bin/stap-serverd --help >/dev/null || { echo "as stap-server failed"; exit 1; }',
        'echo all-ok',
      ].join('\n'),
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('all-ok');
  });

  it('the installed service starts a real server from the installed layout, reports it, and stops it', () => {
    // Own network namespace (loopback only); the agent is left off: nothing here advertises.
    const r = root.run(
      [
        'trap "/usr/local/bin/stap-server stop >/dev/null 2>&1" EXIT',
        `/usr/local/bin/stap-server start -r ${RELEASE} || exit 10`,
        '/usr/local/bin/stap-server status --json > /tmp/status.json.$$ || exit 11',
        'cat /tmp/status.json.$$; rm -f /tmp/status.json.$$',
        '/usr/local/bin/stap-server stop || exit 12',
        '/usr/local/bin/stap-server status; echo "status-after-stop=$?"',
      ].join('\n'),
      { env: { STAP_FLEET_AGENT: 'off' } },
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'), r.stdout.lastIndexOf('}') + 1)) as {
      servers: { state: string; user: string; log: string; statFile: string; releases: string[]; sslDir: string }[];
    };
    expect(doc.servers).toHaveLength(1);
    expect(doc.servers[0]).toMatchObject({
      state: 'running',
      user: 'stap-server',
      log: '/var/log/stap-server/log',
      releases: [RELEASE],
      sslDir: '/var/lib/stap-server/.systemtap/ssl/server',
    });
    expect(doc.servers[0]!.statFile).toMatch(/^\/var\/run\/stap-server\/\d+\.stat$/);
    expect(r.stdout).toContain('status-after-stop=3');
    // The certificate landed in the stap-server home created by install.sh, the key private to that user.
    const u = passwdEntry(root.path('/etc/passwd'), 'stap-server')!;
    const key = root.path('/var/lib/stap-server/.systemtap/ssl/server/stap.key');
    expect(statSync(key).uid).toBe(Number(u[2]));
    expect(mode(key)).toBe('600');
    expect(readFileSync(root.path('/var/log/stap-server/log'), 'utf8')).toMatch(/Received signal 15, exiting/);
  });

  it('a second run keeps the admin\'s configuration and the user, and still succeeds', () => {
    const r0 = root.run(`echo '# edited by the admin' >> /etc/sysconfig/stap-server`);
    expect(r0.status).toBe(0);
    const uid = passwdEntry(root.path('/etc/passwd'), 'stap-server')![2];
    const r = root.run(`bash ${INSTALL}`);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('created user');
    expect(readFileSync(root.path('/etc/sysconfig/stap-server'), 'utf8')).toContain('# edited by the admin');
    expect(passwdEntry(root.path('/etc/passwd'), 'stap-server')![2]).toBe(uid);
    expect(readdirSync(root.path('/usr/local/lib')).filter((n) => n.startsWith('stap-fleet'))).toEqual(['stap-fleet']);
  });

  it('refuses to run as a non-root user (exit 4) and rejects unknown arguments (exit 2)', () => {
    // A copy nobody can read even when the clone lives under a 0700 directory.
    const copy = join(root.dir, 'install.sh');
    copyFileSync(join(ROOT, 'packaging/install.sh'), copy);
    const r = root.run(`setpriv --reuid nobody --regid nogroup --clear-groups -- bash ${copy}`);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('must run as root');
    const bad = root.run(`bash ${INSTALL} --frobnicate`);
    expect(bad.status).toBe(2);
  });

  it('--uninstall removes code, commands and units, and keeps configuration, logs and the user', () => {
    const r = root.run(`bash ${INSTALL} --uninstall`);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(root.path('/usr/local/lib/stap-fleet'))).toBe(false);
    expect(existsSync(root.path('/usr/local/bin/stap-server'))).toBe(false);
    expect(existsSync(root.path('/etc/systemd/system/stap-server.service'))).toBe(false);
    expect(existsSync(root.path('/etc/sysconfig/stap-server'))).toBe(true);
    expect(existsSync(root.path('/var/log/stap-server/log'))).toBe(true);
    expect(passwdEntry(root.path('/etc/passwd'), 'stap-server')).toBeDefined();
  });
});
