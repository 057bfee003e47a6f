/**
 * One simulated host: a network namespace plus an anchor process that holds the host's UTS name and private mount
 * view. Everything run "on" the host enters the anchor's namespaces with nsenter.
 */
import { type ChildProcess, type StdioOptions, spawn as nodeSpawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { run, type RunResult, killGroup, isAlive, sleep, waitFor } from './proc.js';
import { VIEW_MOUNTS, canonicalViewPath, lookupUser } from './views.js';

export interface ExecOptions {
  /** Added to (not replacing) the harness process's environment. */
  env?: Record<string, string | undefined>;
  /** Run as this user (setpriv with its uid, gid, groups; HOME/USER/LOGNAME set). */
  user?: string;
  input?: string;
  /** Default 30000. */
  timeoutMs?: number;
  /** Working directory inside the view (default: the harness's cwd). */
  cwd?: string;
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  user?: string;
  cwd?: string;
  /** Default: stdout+stderr appended to logFile if given, else ignored. */
  stdio?: StdioOptions;
  /** Append stdout and stderr to this file (root-side path). */
  logFile?: string;
}

export interface SshdInfo {
  ip: string;
  port: number;
  /** `ssh-ed25519 AAAA...` */
  hostKey: string;
  /** Line for a known_hosts file. */
  knownHostsLine: string;
  pid: number;
  logFile: string;
}

export interface AvahiBrowseEntry {
  event: '+' | '-' | '=';
  iface: string;
  protocol: string;
  name: string;
  type: string;
  domain: string;
  host?: string;
  address?: string;
  port?: number;
  /** TXT strings in avahi-browse's order, unquoted. */
  txt?: string[];
}

export class LanHost {
  readonly name: string;
  readonly index: number;
  readonly ns: string;
  readonly ip: string;
  /** Root-side scratch dir of this host (/run/stap-fleet-lan/<slot>/<name>). */
  readonly dir: string;
  anchorPid = 0;
  private anchor: ChildProcess | undefined;
  private avahiProc: ChildProcess | undefined;
  private dbusProc: ChildProcess | undefined;
  private sshdProc: ChildProcess | undefined;
  private readonly children = new Set<ChildProcess>();

  constructor(init: { name: string; index: number; ns: string; ip: string; dir: string }) {
    this.name = init.name;
    this.index = init.index;
    this.ns = init.ns;
    this.ip = init.ip;
    this.dir = init.dir;
  }

  /** Root-side path of a file inside this host's view (for the view's private dirs; else the path itself). */
  path(viewPath: string): string {
    const p = canonicalViewPath(viewPath);
    for (const m of VIEW_MOUNTS) {
      if (p === m.path || p.startsWith(m.path + '/')) return join(this.dir, 'fs', m.backing, p.slice(m.path.length));
    }
    return p;
  }

  /** Creates the backing dirs and starts the anchor (hostname + bind mounts). */
  async startAnchor(timeoutMs = 20_000): Promise<void> {
    const stapUser = lookupUser('stap-server');
    const args: string[] = [];
    for (const m of VIEW_MOUNTS) {
      const backing = join(this.dir, 'fs', m.backing);
      mkdirSync(backing, { recursive: true });
      chmodSync(backing, m.mode);
      if (m.owner === 'stap-server') chownSync(backing, stapUser.uid, stapUser.gid);
      args.push(backing, m.path);
    }
    // Like a Debian install, the host resolves its own name (127.0.1.1): sudo looks its host name up (Debian
    // builds it with fqdn) and otherwise prints "unable to resolve host hN" on every call.
    const hostsFile = join(this.dir, 'fs', 'hosts');
    writeFileSync(hostsFile, `${readFileSync('/etc/hosts', 'utf8').trimEnd()}\n127.0.1.1\t${this.name}\n`, { mode: 0o644 });
    args.push(hostsFile, '/etc/hosts');
    // Bind-mount each pair, then report and park. Arguments are passed as argv, never spliced into the script.
    const script =
      'set -e; hostname "$0"; while [ $# -gt 0 ]; do mount --bind "$1" "$2"; shift 2; done; echo ready; exec sleep infinity';
    const child = nodeSpawn(
      'ip',
      ['netns', 'exec', this.ns, 'unshare', '--mount', '--uts', '--propagation', 'private', 'sh', '-c', script, this.name, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    this.anchor = child;
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => (err += String(e)));
    await waitFor(
      `anchor of ${this.name}`,
      () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`anchor of ${this.name} exited: ${err.trim()}`);
        return out.includes('ready');
      },
      timeoutMs,
      10,
    );
    child.stdout!.removeAllListeners('data');
    child.stdout!.resume();
    child.stderr!.resume();
    child.unref();
    this.anchorPid = child.pid!;
  }

  private wrap(argv: string[], opts: { user?: string; cwd?: string; env?: Record<string, string | undefined> }): {
    argv: string[];
    env: NodeJS.ProcessEnv;
  } {
    if (!this.anchorPid) throw new Error(`${this.name}: host is not running (destroyed?)`);
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    const cwd = opts.cwd ?? process.cwd();
    const prefix = ['nsenter', '-t', String(this.anchorPid), '-n', '-m', '-u', `--wdns=${cwd}`, '--'];
    if (!opts.user || opts.user === 'root') return { argv: [...prefix, ...argv], env };
    const u = lookupUser(opts.user);
    env.HOME = opts.env?.HOME ?? u.home;
    env.USER = u.name;
    env.LOGNAME = u.name;
    return {
      argv: [...prefix, 'setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--', ...argv],
      env,
    };
  }

  /** Runs argv to completion inside the host (netns, hostname, mount view). Never throws for a failing command. */
  exec(argv: string[], opts: ExecOptions = {}): Promise<RunResult> {
    const w = this.wrap(argv, opts);
    return run(w.argv, { env: w.env, input: opts.input, timeoutMs: opts.timeoutMs ?? 30_000 });
  }

  /** Runs a shell command line inside the host (the hexec convenience). */
  sh(command: string, opts: ExecOptions = {}): Promise<RunResult> {
    return this.exec(['sh', '-c', command], opts);
  }

  /** Starts a long-running process inside the host; destroy() kills it if still running. */
  spawn(argv: string[], opts: SpawnOptions = {}): ChildProcess {
    const w = this.wrap(argv, opts);
    let stdio = opts.stdio;
    let fd: number | undefined;
    if (!stdio) {
      if (opts.logFile) {
        fd = openSync(opts.logFile, 'a');
        stdio = ['ignore', fd, fd];
      } else stdio = 'ignore';
    }
    const child = nodeSpawn(w.argv[0]!, w.argv.slice(1), { env: w.env, stdio, detached: true });
    if (fd !== undefined) closeSync(fd);
    child.on('error', () => undefined);
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  // --- sudo --------------------------------------------------------------------------------------------

  /**
   * Lets `user` run `commands` (absolute paths, optionally with arguments, or 'ALL') as root without a password,
   * on this host only: the rule goes to the host's private /etc/sudoers.d and is checked with visudo there.
   * Real sudo needs nothing else in a host: PAM (pam_unix, pam_limits) and the audit/syslog calls work or are
   * skipped silently in a namespace, there is no tty so use_pty does not apply, and /run/sudo timestamps are
   * not used by NOPASSWD rules. Returns the rule file's path inside the view.
   */
  async allowSudo(user: string, commands: string[] | 'ALL'): Promise<string> {
    lookupUser(user);
    const cmds = commands === 'ALL' ? 'ALL' : commands.map((c) => c.replace(/([,:=\\])/g, '\\$1')).join(', ');
    const file = `/etc/sudoers.d/lan-${user.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const text = `# written by the test LAN harness for ${this.name}\n${user} ALL=(root) NOPASSWD: ${cmds}\n`;
    const real = this.path(file);
    writeFileSync(real + '.tmp', text, { mode: 0o440 });
    chmodSync(real + '.tmp', 0o440);
    const check = await this.exec(['visudo', '-c', '-f', file + '.tmp']);
    if (check.exitCode !== 0) {
      rmSync(real + '.tmp', { force: true });
      throw new Error(`${this.name}: sudoers rule rejected by visudo: ${check.stdout}${check.stderr}`);
    }
    renameSync(real + '.tmp', real);
    return file;
  }

  /** Removes the rule allowSudo wrote for `user` on this host. */
  revokeSudo(user: string): void {
    rmSync(this.path(`/etc/sudoers.d/lan-${user.replace(/[^A-Za-z0-9_-]/g, '_')}`), { force: true });
  }

  // --- avahi ---------------------------------------------------------------------------------------------

  private get avahiDir(): string {
    return join(this.dir, 'avahi');
  }

  get avahiLog(): string {
    return join(this.avahiDir, 'avahi.log');
  }

  avahiRunning(): boolean {
    return !!this.avahiProc && this.avahiProc.exitCode === null && this.avahiProc.signalCode === null;
  }

  /** Starts a private dbus-daemon (once) and avahi-daemon; resolves at "Server startup complete". */
  async startAvahi(opts: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    mkdirSync(this.avahiDir, { recursive: true });
    if (!this.dbusProc || this.dbusProc.exitCode !== null || this.dbusProc.signalCode !== null) {
      const conf = join(this.avahiDir, 'dbus.conf');
      writeFileSync(conf, dbusConfig());
      rmSync(this.path('/run/dbus/system_bus_socket'), { force: true });
      this.dbusProc = this.spawn(['dbus-daemon', `--config-file=${conf}`, '--nofork', '--nopidfile'], {
        logFile: join(this.avahiDir, 'dbus.log'),
      });
      const socket = this.path('/run/dbus/system_bus_socket');
      await waitFor(`${this.name}: dbus socket`, () => {
        if (this.dbusProc!.exitCode !== null) throw new Error(`${this.name}: dbus-daemon exited: ${tail(join(this.avahiDir, 'dbus.log'))}`);
        return existsSync(socket);
      }, timeoutMs, 10);
    }
    if (this.avahiRunning()) return;
    const conf = join(this.avahiDir, 'avahi-daemon.conf');
    writeFileSync(conf, avahiConfig(this.name));
    // A pid file left by a killed daemon makes avahi refuse to start.
    rmSync(this.path('/run/avahi-daemon/pid'), { force: true });
    writeFileSync(this.avahiLog, '');
    const proc = this.spawn(['avahi-daemon', '--no-drop-root', '--no-chroot', '--no-rlimits', '-f', conf], {
      logFile: this.avahiLog,
    });
    this.avahiProc = proc;
    await waitFor(`${this.name}: avahi-daemon "Server startup complete"`, () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${this.name}: avahi-daemon exited: ${tail(this.avahiLog)}`);
      return readFileSync(this.avahiLog, 'utf8').includes('Server startup complete');
    }, timeoutMs, 20);
  }

  /** Stops avahi-daemon (and, with dbus:true, the private dbus-daemon). */
  async stopAvahi(opts: { dbus?: boolean; signal?: NodeJS.Signals } = {}): Promise<void> {
    await stopChild(this.avahiProc, opts.signal ?? 'SIGTERM');
    this.avahiProc = undefined;
    rmSync(this.path('/run/avahi-daemon/pid'), { force: true });
    if (opts.dbus ?? true) {
      await stopChild(this.dbusProc, 'SIGTERM');
      this.dbusProc = undefined;
    }
  }

  /** Restarts avahi-daemon only; the host's dbus-daemon keeps running, as on a real host. */
  async restartAvahi(): Promise<void> {
    await this.stopAvahi({ dbus: false });
    await this.startAvahi();
  }

  /**
   * `avahi-browse -rpt <type>` on this host, parsed. Only resolved ('=') entries unless all=true.
   * Needs avahi on this host.
   */
  async avahiBrowse(type: string, opts: { all?: boolean; timeoutMs?: number } = {}): Promise<AvahiBrowseEntry[]> {
    const r = await this.exec(['avahi-browse', '-rpt', type], { timeoutMs: opts.timeoutMs ?? 15_000 });
    if (r.failed) throw new Error(`${this.name}: ${r.shortMessage}: ${r.stderr.trim()}`);
    const entries = parseAvahiBrowse(r.stdout);
    return opts.all ? entries : entries.filter((e) => e.event === '=');
  }

  // --- sshd ----------------------------------------------------------------------------------------------

  /** umask: the file-creation mask sshd and so every session start with (as pam_umask would set it). */
  async startSshd(opts: { authorizedKeys: string[]; port?: number; timeoutMs?: number; umask?: number }): Promise<SshdInfo> {
    const port = opts.port ?? 22;
    const d = join(this.dir, 'sshd');
    mkdirSync(d, { recursive: true, mode: 0o755 });
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const hostKeyFile = join(d, 'host_ed25519');
    if (!existsSync(hostKeyFile)) {
      const r = await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `root@${this.name}`, '-f', hostKeyFile], { timeoutMs: 10_000 });
      if (r.failed) throw new Error(`${this.name}: ssh-keygen: ${r.stderr}`);
    }
    const authorized = join(d, 'authorized_keys');
    writeFileSync(authorized, opts.authorizedKeys.map((k) => k.trim()).join('\n') + '\n', { mode: 0o644 });
    chmodSync(authorized, 0o644); // sshd reads it as the target user
    const conf = join(d, 'sshd_config');
    const log = join(d, 'sshd.log');
    writeFileSync(
      conf,
      [
        `ListenAddress ${this.ip}`,
        `Port ${port}`,
        `HostKey ${hostKeyFile}`,
        `PidFile ${join(d, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorized}`,
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'UsePAM no',
        'MaxSessions 128',
        'MaxStartups 200:30:400',
        'PrintMotd no',
        'AcceptEnv LANG LC_* SYSTEMTAP_DIR',
        '',
      ].join('\n'),
    );
    await this.stopSshd();
    writeFileSync(log, '');
    const sshdArgv = ['/usr/sbin/sshd', '-D', '-e', '-f', conf];
    const argv = opts.umask === undefined ? sshdArgv : ['sh', '-c', `umask ${opts.umask.toString(8).padStart(3, '0')} && exec "$@"`, 'sshd', ...sshdArgv];
    const proc = this.spawn(argv, { logFile: log });
    this.sshdProc = proc;
    await waitFor(`${this.name}: sshd "Server listening"`, () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${this.name}: sshd exited: ${tail(log)}`);
      return readFileSync(log, 'utf8').includes('Server listening');
    }, opts.timeoutMs ?? 10_000, 10);
    const hostKey = readFileSync(`${hostKeyFile}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    const hostField = port === 22 ? this.ip : `[${this.ip}]:${port}`;
    return { ip: this.ip, port, hostKey, knownHostsLine: `${hostField} ${hostKey}`, pid: proc.pid!, logFile: log };
  }

  async stopSshd(): Promise<void> {
    await stopChild(this.sshdProc, 'SIGTERM');
    this.sshdProc = undefined;
  }

  /** Kills everything this object started (destroy() also kills whatever else runs in the namespace). */
  async stopAll(): Promise<void> {
    for (const c of this.children) killGroup(c.pid, 'SIGKILL');
    if (this.anchor) killGroup(this.anchor.pid, 'SIGKILL');
    this.anchorPid = 0;
  }
}

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const pid = child.pid;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && isAlive(pid) && child.exitCode === null && child.signalCode === null) await sleep(20);
  if (isAlive(pid)) {
    killGroup(pid, 'SIGKILL');
    const d2 = Date.now() + 3000;
    while (Date.now() < d2 && isAlive(pid)) await sleep(20);
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}

function dbusConfig(): string {
  // The receive_type allows are required: without them the bus rejects the reply to Hello and avahi hangs.
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
</busconfig>
`;
}

function avahiConfig(hostName: string): string {
  return [
    '[server]',
    `host-name=${hostName}`,
    'domain-name=local',
    'use-ipv4=yes',
    'use-ipv6=no',
    'allow-interfaces=eth0',
    'enable-dbus=yes',
    'ratelimit-interval-usec=1000000',
    'ratelimit-burst=1000',
    '[wide-area]',
    'enable-wide-area=no',
    '[publish]',
    'publish-hinfo=no',
    'publish-workstation=no',
    '',
  ].join('\n');
}

/** Parses `avahi-browse -p` output (fields separated by ';', with \DDD escapes in names). */
export function parseAvahiBrowse(stdout: string): AvahiBrowseEntry[] {
  const out: AvahiBrowseEntry[] = [];
  for (const line of stdout.split('\n')) {
    if (!line) continue;
    const f = splitParsable(line);
    const event = f[0] as AvahiBrowseEntry['event'];
    if (event !== '+' && event !== '-' && event !== '=') continue;
    const e: AvahiBrowseEntry = {
      event,
      iface: f[1] ?? '',
      protocol: f[2] ?? '',
      name: unescapeAvahi(f[3] ?? ''),
      type: f[4] ?? '',
      domain: f[5] ?? '',
    };
    if (event === '=') {
      e.host = f[6];
      e.address = f[7];
      e.port = Number(f[8]);
      e.txt = parseTxt(f.slice(9).join(';'));
    }
    out.push(e);
  }
  return out;
}

function splitParsable(line: string): string[] {
  // TXT (last field) may itself contain ';' inside quotes: split only the first 9 separators.
  const parts: string[] = [];
  let rest = line;
  for (let i = 0; i < 9; i++) {
    const k = rest.indexOf(';');
    if (k < 0) break;
    parts.push(rest.slice(0, k));
    rest = rest.slice(k + 1);
  }
  parts.push(rest);
  return parts;
}

export function unescapeAvahi(s: string): string {
  return s.replace(/\\(\d{3})/g, (_, d: string) => String.fromCharCode(Number(d))).replace(/\\(.)/g, '$1');
}

function parseTxt(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(unescapeAvahi(m[1]!));
  return out;
}
