/**
 * Every option of seed 2.3 (plus --max-*) and every config variable through the real CLI, on real
 * daemons; seed 6.4-6.6 examples; kill -9 detection; concurrent starts; error paths and exit codes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { release } from 'node:os';
import { CLI, ensureUser, removeUser, isLiveServer, makeWorld, runCli, type World } from './helpers.js';

const USER = 'sfsvcopt';
const OTHER = 'sfsvcnog'; // exists, but not in group stap-server
let w: World;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ port, host: '127.0.0.1' });
    c.on('connect', () => (c.destroy(), resolve(true)));
    c.on('error', () => resolve(false));
  });
}

const side = (pid: number) => JSON.parse(readFileSync(join(w.stat, `.${pid}.stap-fleet.json`), 'utf8'));
const statLines = (pid: number) => w.statText(pid).trimEnd().split('\n');

beforeAll(() => {
  w = makeWorld({ user: USER, tag: 'opt' });
  ensureUser(USER, join(w.dir, 'home'));
  ensureUser(OTHER, join(w.dir, 'home-other'), false);
  mkdirSync(join(w.dir, 'modules', '6.1.0-1-test'), { recursive: true });
  mkdirSync(join(w.dir, 'modules', '6.1.0-2-test'), { recursive: true });
});
afterEach(async () => {
  await w.cli(['stop']);
  for (const f of ['a', 'b', 'c', 'x', 'native', 'powerpc', 'rel'].map((n) => join(w.confd, `${n}.conf`))) {
    if (existsSync(f)) execFileSync('rm', ['-f', f]);
  }
});
afterAll(async () => {
  await w.cleanup();
  removeUser(USER);
  removeUser(OTHER);
});

describe('command-line options', () => {
  it('-a -r -I -R -B -D -u and the --port --ssl --log --max-* lists reach the status file, the sidecar and the daemon', async () => {
    const port = await freePort();
    const ssl = join(w.dir, 'ssl-1');
    const log = join(w.dir, 'logs', 'one.log');
    const r = await w.cli([
      'start', '-a', 'powerpc', '-r', '6.1.0-9-x', '-I', '/tap1', '-I', '/tap2', '-R', '/rt', '-B', 'V=1', '-D', 'A=1', '-D', 'B',
      '-u', USER, '--port', String(port), '--ssl', ssl, '--log', log, '--max-threads', '3', '--max-request-size', '70000',
      '--max-compressed-request', '9000',
    ]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(
      `Starting stap-server -a "powerpc" -r "6.1.0-9-x" -R "/rt" -D "A=1" -D "B" -I "/tap1" -I "/tap2" -B "V=1" -u "${USER}" --log "${log}" --port "${port}" --ssl "${ssl}" --max-threads "3" --max-request-size "70000" --max-compressed-request "9000" OK\n`,
    );
    const [pid] = w.pids();
    expect(statLines(pid!)).toEqual([
      'ARCH=powerpc', `USER=${USER}`, 'BUILD+=V=1', 'INCLUDE+=/tap1', 'INCLUDE+=/tap2', 'DEFINE+=A=1', 'DEFINE+=B',
      `NICKNAME=${pid}`, 'RUNTIME=/rt', 'RELEASE+=6.1.0-9-x', `LOG=${log}`, `PORT=${port}`, `SSL=${ssl}`,
      'MAXTHREADS=3', 'MAXREQSIZE=70000', 'MAXCOMPRESSEDREQ=9000',
    ]);
    const s = side(pid!);
    expect(s).toMatchObject({ pid, port, sslDir: ssl, arch: 'powerpc', releases: ['6.1.0-9-x'], user: USER, log, optinfo: '-R/rt -BV=1 -DA=1 -DB -I/tap1 -I/tap2' });
    expect(await listening(port)).toBe(true);
    expect(existsSync(join(ssl, 'stap.cert'))).toBe(true);
    expect(readFileSync(log, 'utf8')).toContain(`compile server pid ${pid} starting as ${USER}`);
    const cmdline = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(cmdline).toMatch(new RegExp(`Uid:\\s+${execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim()}\\s`));
    // status selects it by its options, and the JSON document carries everything
    const st = await w.cli(['status', '-a', 'powerpc', '-r', '6.1.0-9-x', '-I', '/tap1', '-I', '/tap2', '-R', '/rt', '-B', 'V=1', '-D', 'A=1', '-D', 'B', '--port', String(port), '--ssl', ssl, '--log', log, '--max-threads', '3', '--max-request-size', '70000', '--max-compressed-request', '9000', '--json']);
    expect(st.exitCode).toBe(0);
    const doc = JSON.parse(st.stdout);
    expect(doc.exitCode).toBe(0);
    expect(doc.servers).toEqual([
      {
        pid, state: 'running', nickname: String(pid), arch: 'powerpc', releases: ['6.1.0-9-x'], user: USER, port, configuredPort: String(port),
        certinfo: s.certinfo, sslDir: ssl, log, include: ['/tap1', '/tap2'], define: ['A=1', 'B'], build: ['V=1'], runtime: '/rt',
        maxThreads: '3', maxRequestSize: '70000', maxCompressedRequest: '9000', statFile: join(w.stat, `${pid}.stat`),
      },
    ]);
    // a different -I list is another server (whole arrays compared, not the first element)
    const other = await w.cli(['status', '-a', 'powerpc', '-r', '6.1.0-9-x', '-I', '/tap1', '-R', '/rt', '-B', 'V=1', '-D', 'A=1', '-D', 'B', '--port', String(port), '--ssl', ssl, '--log', log, '--max-threads', '3', '--max-request-size', '70000', '--max-compressed-request', '9000']);
    expect(other.exitCode).toBe(3);
    expect(other.stdout).toMatch(/is not running\n$/);
  });

  it('no --port gives a random free port; start of a running spec is skipped with OK', async () => {
    let r = await w.cli(['start', '-r', '6.1.0-9-x']);
    expect(r.exitCode).toBe(0);
    const [pid] = w.pids();
    const s = side(pid!);
    expect(s.port).toBeGreaterThan(1023);
    expect(await listening(s.port)).toBe(true);
    expect(statLines(pid!)).toContain('PORT=');
    r = await w.cli(['start', '-r', '6.1.0-9-x']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Starting stap-server .* OK\n$/);
    expect(w.pids()).toEqual([pid]);
  });

  it('-i: one server per release in /lib/modules (overridable), previous -I/-u applied, -a ignored, lists in turn', async () => {
    const p1 = await freePort();
    const r = await w.cli(['start', '-a', 'powerpc', '-I', '/t', '-u', USER, '-i', '--port', String(p1)]);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`Starting stap-server -a "x86_64" -r "6.1.0-1-test" -I "/t" -u "${USER}" --log "${w.logFile}" --port "${p1}" OK`);
    expect(lines[1]).toBe(`Starting stap-server -a "x86_64" -r "6.1.0-2-test" -I "/t" -u "${USER}" --log "${w.logFile}" OK`);
    const rel = w.pids().map((p) => statLines(p).find((l) => l.startsWith('RELEASE+='))).sort();
    expect(rel).toEqual(['RELEASE+=6.1.0-1-test', 'RELEASE+=6.1.0-2-test']);
  });

  it('-n: a new nickname on start, found among running servers, then in conf.d; unknown nickname errors', async () => {
    let r = await w.cli(['start', '-r', '6.1.0-7-x', '-n', 'lab']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('-n "lab"');
    const [pid] = w.pids();
    expect(statLines(pid!)).toContain('NICKNAME=lab');
    r = await w.cli(['status', '-n', 'lab']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`stap-server -a "x86_64" -r "6.1.0-7-x" -u "${USER}" -n "lab" --log "${w.logFile}" running as PID ${pid}\n`);
    // conf.d lookup: a configured (not running) server by its NICKNAME
    w.conf('x.conf', 'RELEASE=6.1.0-8-x\nNICKNAME=fromconf\n');
    r = await w.cli(['status', '-n', 'fromconf']);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe(`stap-server -a "x86_64" -r "6.1.0-8-x" -u "${USER}" -n "fromconf" --log "${w.logFile}" is not running\n`);
    r = await w.cli(['start', '-n', 'fromconf']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('-r "6.1.0-8-x"');
    expect(w.pids()).toHaveLength(2);
    // unknown nickname: an error for non-start actions (4.8 exits 0 on stop)
    r = await w.cli(['stop', '-n', 'nosuch']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("No configuration found for the nickname 'nosuch'");
    r = await w.cli(['status', '-n', 'nosuch']);
    expect(r.exitCode).toBe(3);
    r = await w.cli(['stop', '-n', 'lab']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Stopping stap-server .* -n "lab" .* OK\n$/);
    expect(isLiveServer(pid!)).toBe(false);
    expect(w.pids()).toHaveLength(1);
  });

  it('-p: selects the running server by pid; an unknown pid is an error; pids are never matched as substrings', async () => {
    await w.cli(['start', '-r', '6.1.0-7-x']);
    const [pid] = w.pids();
    let r = await w.cli(['status', '-p', String(pid)]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`running as PID ${pid}`);
    r = await w.cli(['status', '-p', String(pid).slice(0, -1)]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`No stap-server running as pid ${String(pid).slice(0, -1)}`);
    r = await w.cli(['restart', '-p', String(pid)]);
    expect(r.exitCode).toBe(0);
    const [pid2] = w.pids();
    expect(pid2).not.toBe(pid);
    r = await w.cli(['stop', '-p', String(pid2)]);
    expect(r.exitCode).toBe(0);
    expect(w.pids()).toEqual([]);
  });

  it('--log/--port lists apply in turn to several servers', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const l1 = join(w.dir, 'l1.log');
    const r = await w.cli(['start', '-n', 's1', '-n', 's2', '-n', 's3', '--port', String(p1), '--log', l1, '--port', String(p2)]);
    expect(r.exitCode).toBe(0);
    const byNick = new Map(w.pids().map((p) => [statLines(p).find((l) => l.startsWith('NICKNAME='))!.slice(9), statLines(p)]));
    expect(byNick.get('s1')).toEqual(expect.arrayContaining([`PORT=${p1}`, `LOG=${l1}`]));
    expect(byNick.get('s2')).toEqual(expect.arrayContaining([`PORT=${p2}`, `LOG=${w.logFile}`]));
    expect(byNick.get('s3')).toEqual(expect.arrayContaining(['PORT=', `LOG=${w.logFile}`]));
    expect(readFileSync(l1, 'utf8')).toContain('starting as');
  });

  it('-c: the last -c wins and -n/-p use its paths', async () => {
    const other = join(w.dir, 'other.conf');
    const otherStat = join(w.dir, 'stat2');
    writeFileSync(other, `STAT_PATH=${otherStat}\nLOG_FILE=${w.logFile}\nSTAP_USER=${USER}\nCONFIG_PATH=${w.confd}\n`);
    let r = await w.cli(['start', '-c', '/nonexistent/x', '-c', other, '-n', 'viac']);
    expect(r.exitCode).toBe(0);
    expect(existsSync(otherStat)).toBe(true);
    expect(w.pids()).toEqual([]);
    r = await w.cli(['status', '-c', other, '-n', 'viac']);
    expect(r.exitCode).toBe(0);
    r = await w.cli(['stop', '-c', other]);
    expect(r.exitCode).toBe(0);
    r = await w.cli(['status', '-c', '/nonexistent/x']);
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toContain('/nonexistent/x');
  });

  it('the default global file (STAP_SERVER_CONFIG_FILE) is read first; -c is processed after it, empty values keep the earlier ones', async () => {
    const extra = join(w.dir, 'extra.conf');
    const stat3 = join(w.dir, 'stat3');
    writeFileSync(extra, `STAT_PATH=${stat3}\nLOG_FILE=\n`);
    const env = { ...w.env, STAP_SERVER_CONFIG_FILE: w.global };
    let r = await runCli(['start', '-n', 'deflt'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(w.pids()).toHaveLength(1);
    r = await runCli(['start', '-c', extra, '-n', 'layered'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    // STAT_PATH from -c, LOG_FILE and STAP_USER still from the default file
    expect(r.stdout).toContain(`-u "${USER}" -n "layered" --log "${w.logFile}" OK`);
    expect(readdirSync(stat3).filter((f) => f.endsWith('.stat'))).toHaveLength(1);
    r = await runCli(['stop', '-c', extra], env);
    expect(r.exitCode).toBe(0);
    expect(readdirSync(stat3).filter((f) => f.endsWith('.stat'))).toHaveLength(0);
  });

  it('-r with a build tree (seed 6.4.3): its release comes from include/config/kernel.release; missing file: exit 2', async () => {
    const tree = join(w.dir, 'kernels', '2.6.18-92.1.18.el5', 'build');
    mkdirSync(join(tree, 'include', 'config'), { recursive: true });
    writeFileSync(join(tree, 'include', 'config', 'kernel.release'), '2.6.18-92.1.18.el5\n');
    let r = await w.cli(['start', '-a', 'powerpc', '-r', tree]);
    expect(r.exitCode).toBe(0);
    const [pid] = w.pids();
    expect(statLines(pid!)).toContain(`RELEASE+=${tree}`);
    expect(side(pid!).releases).toEqual(['2.6.18-92.1.18.el5']);
    // seed 6.5: stop -a powerpc -r /kernels/.../build
    r = await w.cli(['stop', '-a', 'powerpc', '-r', tree]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`-r "${tree}"`);
    expect(w.pids()).toEqual([]);
    r = await w.cli(['start', '-r', join(w.dir, 'kernels', 'none')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`Missing ${join(w.dir, 'kernels', 'none', 'include', 'config', 'kernel.release')}`);
    expect(w.pids()).toEqual([]);
  });

  it('seed 6.4.1/6.5: start -r, status -r, restart -a -r', async () => {
    let r = await w.cli(['start', '-r', '2.6.18-128.el5']);
    expect(r.exitCode).toBe(0);
    r = await w.cli(['status', '-r', '2.6.18-128.el5']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/-r "2\.6\.18-128\.el5" .* running as PID \d+\n$/);
    const [pid] = w.pids();
    r = await w.cli(['restart', '-a', 'i386', '-r', '2.6.18-92.1.18.el5']);
    expect(r.exitCode).toBe(0);
    // not running: restart of a specified server starts it, and leaves the other alone
    expect(r.stdout).toMatch(/^Starting stap-server -a "i386" -r "2\.6\.18-92\.1\.18\.el5" .* OK\n$/);
    expect(w.pids()).toContain(pid);
    expect(w.pids()).toHaveLength(2);
    r = await w.cli(['condrestart', '-r', 'never-running']);
    expect(r.exitCode).toBe(0);
    expect(w.pids()).toHaveLength(2);
  });

  it('-u: the user must exist (exit 6) and be in group stap-server (exit 6)', async () => {
    let r = await w.cli(['start', '-u', 'sf-no-such-user']);
    expect(r.exitCode).toBe(6);
    expect(r.stdout).toMatch(/-u "sf-no-such-user" .* FAILED\n$/);
    expect(r.stderr).toContain("user 'sf-no-such-user' does not exist");
    r = await w.cli(['start', '-u', OTHER]);
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toContain(`user '${OTHER}' is not a member of group 'stap-server'`);
    expect(w.pids()).toEqual([]);
  });

  it('usage errors exit 2; unknown action prints usage and exits 2; --help exits 0', async () => {
    for (const args of [['start', '--bogus'], ['start', '-r'], ['start', '--port', 'x'], ['status', '-p', 'abc'], ['frobnicate']]) {
      const r = await w.cli(args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('Usage: stap-server');
    }
    const h = await w.cli(['--help']);
    expect(h.exitCode).toBe(0);
    for (const o of ['-c', '-a', '-r', '-u', '-I', '-R', '-B', '-D', '-i', '-n', '-p', '--log', '--port', '--ssl', '--max-threads', '--max-request-size', '--max-compressed-request']) {
      expect(h.stdout).toContain(o);
    }
  });
});

describe('privileges and install', () => {
  it('a non-root caller cannot change state (exit 4)', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((res) => {
      execFile('runuser', ['-u', USER, '--', 'env', ...Object.entries(w.env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, 'start', '-c', w.global], (err, _o, stderr) =>
        res({ code: err ? (err as { code: number }).code : 0, stderr }),
      );
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('no permission to write');
    expect(w.pids()).toEqual([]);
  });

  it('a daemon USER cannot read is a clear error (SF_UNREADABLE_INSTALL, exit 5)', async () => {
    const hidden = join(w.dir, 'private');
    mkdirSync(hidden, { mode: 0o700 });
    const copy = join(hidden, 'stap-serverd.js');
    writeFileSync(copy, readFileSync(join(CLI, '..', 'stap-serverd.js')));
    const r = await w.cli(['start'], { STAP_FLEET_SERVERD: copy });
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain(`user '${USER}' cannot read ${copy}`);
    expect(w.pids()).toEqual([]);
  });
});

describe('conf.d variables and seed 6.6', () => {
  it('ARCH RELEASE BUILD INCLUDE DEFINE RUNTIME USER NICKNAME LOG PORT SSL MAXTHREADS MAXREQSIZE MAXCOMPRESSEDREQ all reach the server', async () => {
    const port = await freePort();
    const ssl = join(w.dir, 'ssl-conf');
    const log = join(w.dir, 'logs', 'conf.log');
    w.conf(
      'a.conf',
      [
        'ARCH=arm64', 'RELEASE=6.1.0-3-x', 'RELEASE+=6.1.0-4-x', "BUILD='V=1 W=2'", 'INCLUDE=/mytapsets', 'INCLUDE+=/yourtapsets',
        'DEFINE=STP_MAXMEMORY=1024', 'DEFINE+=DEBUG_TRANS', 'RUNTIME=/myruntime', `USER=${USER}`, 'NICKNAME=my-server', `LOG=${log}`,
        `PORT=${port}`, `SSL=${ssl}`, 'MAXTHREADS=1', 'MAXREQSIZE=60000', 'MAXCOMPRESSEDREQ=7000',
      ].join('\n') + '\n',
    );
    const r = await w.cli(['start']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const [pid] = w.pids();
    expect(statLines(pid!)).toEqual([
      'ARCH=arm64', `USER=${USER}`, 'BUILD+=V=1 W=2', 'INCLUDE+=/mytapsets', 'INCLUDE+=/yourtapsets', 'DEFINE+=STP_MAXMEMORY=1024',
      'DEFINE+=DEBUG_TRANS', 'NICKNAME=my-server', 'RUNTIME=/myruntime', 'RELEASE+=6.1.0-3-x', 'RELEASE+=6.1.0-4-x', `LOG=${log}`,
      `PORT=${port}`, `SSL=${ssl}`, 'MAXTHREADS=1', 'MAXREQSIZE=60000', 'MAXCOMPRESSEDREQ=7000',
    ]);
    expect(await listening(port)).toBe(true);
    expect(existsSync(join(ssl, 'stap.cert'))).toBe(true);
    expect(readFileSync(log, 'utf8')).toContain('starting as');
    const st = await w.cli(['status', '-n', 'my-server']);
    expect(st.exitCode).toBe(0);
  });

  it('seed 6.6: default servers (ARCH=/USER=/RELEASE= with comments) start with the defaults; NICKNAMEs make them distinct', async () => {
    w.conf('rel.conf', `ARCH=     # default arch\nUSER=${USER}\nRELEASE=2.6.18-128.el5\nNICKNAME=2.6.18-128.el5\n`);
    w.conf('powerpc.conf', 'ARCH=powerpc\nUSER=     # default user\nRELEASE=  #default release\nNICKNAME=powerpc\n');
    w.conf('native.conf', 'ARCH=     #default arch\nUSER=     # default user\nRELEASE=  #default release\nNICKNAME=native\n');
    let r = await w.cli(['start']);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      `Starting stap-server -a "x86_64" -r "${release()}" -u "${USER}" -n "native" --log "${w.logFile}" OK`,
      `Starting stap-server -a "powerpc" -r "${release()}" -u "${USER}" -n "powerpc" --log "${w.logFile}" OK`,
      `Starting stap-server -a "x86_64" -r "2.6.18-128.el5" -u "${USER}" -n "2.6.18-128.el5" --log "${w.logFile}" OK`,
    ]);
    expect(w.pids()).toHaveLength(3);
    r = await w.cli(['force-reload']);
    expect(r.exitCode).toBe(0);
    expect(w.pids()).toHaveLength(3);
  });

  it('a malformed conf.d file is a file:line error with exit 6 and nothing starts', async () => {
    w.conf('x.conf', 'RELEASE=$(touch /tmp/sf-svc-pwned)\n');
    const r = await w.cli(['start']);
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toContain(`${join(w.confd, 'x.conf')}:1:`);
    expect(existsSync('/tmp/sf-svc-pwned')).toBe(false);
    expect(w.pids()).toEqual([]);
  });

  it('global variables: STAP_USER is the default user, LOG_FILE the default log, STAT_PATH and CONFIG_PATH are used', async () => {
    w.conf('x.conf', 'NICKNAME=globaltest\n');
    const r = await w.cli(['start']);
    expect(r.exitCode).toBe(0);
    const [pid] = w.pids();
    expect(statLines(pid!)).toEqual(expect.arrayContaining([`USER=${USER}`, `LOG=${w.logFile}`, 'NICKNAME=globaltest']));
    expect(existsSync(join(w.stat, `${pid}.stat`))).toBe(true);
  });
});

describe('dead servers and concurrency', () => {
  it('kill -9: status exits 1 naming it, then 3; start brings it back', async () => {
    let r = await w.cli(['start', '-n', 'victim']);
    expect(r.exitCode).toBe(0);
    const [pid] = w.pids();
    process.kill(pid!, 'SIGKILL');
    for (let i = 0; i < 100 && isLiveServer(pid!); i++) await new Promise((res) => setTimeout(res, 20));
    r = await w.cli(['status']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe(`stap-server -a "x86_64" -r "${release()}" -u "${USER}" -n "victim" --log "${w.logFile}" started as PID ${pid} is no longer running\n`);
    expect(w.pids()).toEqual([]);
    r = await w.cli(['status']);
    expect(r.exitCode).toBe(3);
    r = await w.cli(['start', '-n', 'victim']);
    expect(r.exitCode).toBe(0);
    expect(w.pids()).toHaveLength(1);
    expect(w.pids()[0]).not.toBe(pid);
  });

  it('status files are 0644 under a umask-077 caller; a malformed one is skipped with a warning naming it', async () => {
    const ssl = join(w.dir, 'ssl-umask', 'server');
    execFileSync('sh', ['-c', 'umask 077; exec "$@"', 'sh', process.execPath, CLI, 'start', '-n', 'umask', '--ssl', ssl, '-c', w.global], { env: { ...process.env, ...w.env } });
    const [pid] = w.pids();
    const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);
    for (const f of [`${pid}.stat`, `.${pid}.stap-fleet.json`]) expect(mode(join(w.stat, f)), f).toBe('644');
    expect([mode(w.stat), mode(join(w.dir, 'ssl-umask')), mode(ssl), mode(join(ssl, 'stap.cert')), mode(join(ssl, 'stap.key'))]).toEqual(['755', '755', '755', '644', '600']);
    const bogus = join(w.stat, '4000000.stat');
    writeFileSync(bogus, 'NICKNAME=x\n$(touch /tmp/never)\n');
    try {
      const r = await w.cli(['status']);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/-n "umask" .*running as PID \d+/);
      expect(r.stderr).toContain(`stap-server: warning: skipped ${bogus}:2:`);
    } finally {
      execFileSync('rm', ['-f', bogus]);
    }
  });

  it('a recycled pid is not our server: a status file whose start ticks differ is dead', async () => {
    await w.cli(['start', '-n', 'ticks']);
    const [pid] = w.pids();
    const file = join(w.stat, `.${pid}.stap-fleet.json`);
    const s = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...s, procStartTicks: '1' }));
    const r = await w.cli(['status']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`started as PID ${pid} is no longer running`);
    process.kill(pid!, 'SIGTERM');
    for (let i = 0; i < 250 && isLiveServer(pid!); i++) await new Promise((res) => setTimeout(res, 20));
    expect(isLiveServer(pid!)).toBe(false);
  });

  it('stop escalates to SIGKILL when a server ignores SIGTERM past STAP_SERVER_STOP_TIMEOUT_MS', async () => {
    const stubborn = spawn(process.execPath, ['-e', "process.title = 'stap-serverd'; process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('up')"], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((res) => stubborn.stdout!.once('data', () => res()));
    mkdirSync(w.stat, { recursive: true });
    // as SystemTap's script would have recorded it (no sidecar)
    writeFileSync(join(w.stat, `${stubborn.pid}.stat`), `ARCH=x86_64\nUSER=${USER}\nNICKNAME=${stubborn.pid}\nRUNTIME=\nRELEASE+=9.9\nLOG=${w.logFile}\nPORT=\nSSL=\nMAXTHREADS=\nMAXREQSIZE=\nMAXCOMPRESSEDREQ=\n`);
    const exited = new Promise<NodeJS.Signals | null>((res) => stubborn.once('exit', (_c, sig) => res(sig)));
    const r = await w.cli(['stop'], { STAP_SERVER_STOP_TIMEOUT_MS: '500' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Stopping stap-server -a "x86_64" -r "9.9" -u "${USER}" -n "${stubborn.pid}" --log "${w.logFile}" OK\n`);
    expect(await exited).toBe('SIGKILL');
    expect(r.durationMs).toBeGreaterThanOrEqual(500);
    expect(w.pids()).toEqual([]);
    expect(readFileSync(w.logFile, 'utf8')).toContain(`stopped pid ${stubborn.pid} (SIGKILL after timeout)`);
  });

  it('10 concurrent start invocations of one spec leave exactly one server', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => w.cli(['start', '-r', '6.1.0-5-x', '-n', 'once'])));
    for (const r of results) expect(r.exitCode).toBe(0);
    const pids = w.pids();
    expect(pids).toHaveLength(1);
    expect(isLiveServer(pids[0]!)).toBe(true);
    const live = execFileSync('ps', ['-eo', 'stat=,comm=,user='], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => !l.trim().startsWith('Z') && l.includes('stap-serverd') && l.includes(USER));
    expect(live).toHaveLength(1);
  });
});
