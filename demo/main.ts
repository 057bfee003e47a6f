/**
 * The README's first command (`bash scripts/demo.sh`): a whole stap-fleet on this one machine, as a guided tour.
 *
 *   h1, h2  compile-server hosts: avahi-daemon, sshd, stap-agent, `stap-server start` from conf.d files
 *   h3, h4  client hosts: avahi-daemon, sshd, SystemTap's own `stap` client
 *   h5      controller: `stap-fleet` (discovery, status, trust) over SSH and mDNS
 *
 * Every host is a network namespace of the test LAN (test/lan) with its own hostname and its own /etc/stap-server,
 * /etc/sysconfig, /etc/systemtap, /var/run/stap-server, /var/log/stap-server, /root/.systemtap. Nothing multicasts
 * from the root namespace. Every component is the real one. Exit 0 when every step passed; teardown always runs
 * (also on failure, SIGINT and SIGTERM).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLan, sleep, type Lan, type LanHost, type RunResult } from '../test/lan/index.js';
import { run } from '../test/lan/proc.js';
import { resolveCodeRoot, type CodeRoot } from './stage.js';
import { StepFailed, Tour, bold, expectExit, seconds } from './tour.js';

const PROJECT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const BINS = ['stap-server', 'stap-serverd', 'stap-agent', 'stap-fleet'] as const;
const SCRIPT = 'probe begin { printf("hello\\n"); exit() }';
/** The whole tour must end within this bound (it takes ~30-40 s on a 2-core VM); then it fails and tears down. */
const OVERALL_TIMEOUT_MS = Number(process.env.STAP_FLEET_DEMO_TIMEOUT_MS ?? 240_000);
const STEPS = 11;

interface Ctx {
  release: string;
  code: CodeRoot;
  /** Set while the code root is being resolved (a staged copy may be under way): teardown waits for it. */
  codePending: Promise<CodeRoot>;
  scratch: string;
  binDir: string;
  lan: Lan;
  /** Set while the LAN is being created, so that a teardown racing with it (signal, time bound) still finds it. */
  lanPending: Promise<Lan>;
  servers: LanHost[];
  clients: LanHost[];
  controller: LanHost;
}

const HELP = `Usage: bash scripts/demo.sh   (or: npx tsx demo/main.ts)

A guided tour of stap-fleet on this machine, as root on Debian 12: five simulated hosts (network namespaces),
two compile-server hosts started from conf.d files and advertised over mDNS by their agents, discovery and
status from a controller host, trust enrollment of two client hosts, a real 'stap --use-server -p2' compile
from a client through a server it found by mDNS, a final status, and a teardown that removes everything.

Exit status: 0 when every step passed, 1 when a step failed (its reason is printed), 2 on bad usage,
4 when not run as root, 130/143 when interrupted (teardown still runs).
Environment: STAP_FLEET_DEMO_TIMEOUT_MS (default 240000) bounds the whole tour; NO_COLOR disables colour.
`;

/** Kernel releases whose build tree has a .config (what `stap -r REL` needs on the clients and the servers). */
export function kernelReleases(modulesDir = '/lib/modules'): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(modulesDir);
  } catch {
    return [];
  }
  return entries.filter((r) => existsSync(join(modulesDir, r, 'build', '.config'))).sort();
}

function writeWrappers(binDir: string, codeDir: string): void {
  mkdirSync(binDir, { recursive: true, mode: 0o755 });
  for (const b of BINS) {
    writeFileSync(join(binDir, b), `#!/bin/sh\nexec ${process.execPath} ${join(codeDir, 'dist/bin', `${b}.js`)} "$@"\n`, { mode: 0o755 });
  }
}

function confFile(host: LanHost, release: string): string {
  return [
    `# /etc/stap-server/conf.d/native.conf on ${host.name}, written by the demo`,
    `RELEASE=${release}      # the kernel whose headers are installed (found at run time)`,
    `NICKNAME=${host.name}-native`,
    'PORT=                   # empty: a random free port',
    'INCLUDE=()',
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (args.length) {
    process.stderr.write(`demo: unknown argument '${args[0]}'\n${HELP}`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: must run as root (it creates network namespaces and starts daemons)\n');
    return 4;
  }

  const tour = new Tour(STEPS);
  const partial: Partial<Ctx> = {};
  let tearingDown: Promise<void> | undefined;
  const teardown = (): Promise<void> => (tearingDown ??= teardownAll(tour, partial));
  // Interruption (signal, time bound): stop narrating, tear down at once (that also ends the commands in flight,
  // whose hosts disappear), then exit with the interruption's code.
  const interrupt = (reason: string, code: number) => {
    if (tour.aborted) return;
    tour.abort(reason);
    tour.announce(`\ndemo: ${reason}, tearing down`);
    void teardown().finally(() => {
      tour.announce(bold(`\ndemo: FAILED: ${reason}`));
      process.exit(code);
    });
  };
  process.on('SIGINT', () => interrupt('interrupted by SIGINT', 130));
  process.on('SIGTERM', () => interrupt('interrupted by SIGTERM', 143));
  const watchdog = setTimeout(() => interrupt(`the tour took longer than ${seconds(OVERALL_TIMEOUT_MS)}`, 1), OVERALL_TIMEOUT_MS);

  tour.say(bold('stap-fleet demo: a fleet of SystemTap compile servers on simulated hosts of this machine'));
  let ok = false;
  try {
    await runTour(tour, partial);
    ok = true;
  } catch (err) {
    if (!(err instanceof StepFailed)) tour.say(`    ${(err as Error).stack ?? String(err)}`);
  }
  if (tour.aborted) {
    await teardown();
    return new Promise<number>(() => undefined); // interrupt() exits once the teardown is done
  }
  await teardown();
  clearTimeout(watchdog);
  tour.say();
  const failed = tour.steps.find((s) => !s.ok);
  if (ok && !failed) {
    tour.say(bold(`demo: all ${tour.steps.length} steps passed in ${seconds(tour.elapsedMs())}`));
    return 0;
  }
  tour.say(bold(`demo: FAILED at step ${failed?.n ?? '?'} (${failed?.title ?? 'unknown'}): ${failed?.error ?? ''}`));
  return 1;
}

async function runTour(tour: Tour, ctx: Partial<Ctx>): Promise<void> {
  await tour.step('Check this machine: root, a kernel with headers, SystemTap, the stap-server user, readable code', async () => {
    const releases = kernelReleases();
    if (!releases.length) throw new StepFailed('no /lib/modules/*/build/.config: install linux-headers-amd64 (scripts/setup.sh does)');
    ctx.release = releases[releases.length - 1]!;
    tour.say(`    kernel release with headers: ${ctx.release} (from /lib/modules/${ctx.release}/build/.config; running kernel ${osRelease()})`);
    for (const tool of ['/usr/bin/stap', '/usr/sbin/avahi-daemon', '/usr/sbin/sshd', '/usr/bin/certutil']) {
      if (!existsSync(tool)) throw new StepFailed(`${tool} is missing: run scripts/setup.sh`);
    }
    const version = await run(['/usr/bin/stap', '-V'], { timeoutMs: 10_000 });
    tour.say(`    SystemTap: ${`${version.stdout}${version.stderr}`.trim().split('\n')[0] ?? '?'}`);
    try {
      execFileSync('id', ['stap-server'], { stdio: 'ignore' });
    } catch {
      throw new StepFailed("user 'stap-server' does not exist: run scripts/setup.sh (or scripts/install.sh)");
    }
    if (!existsSync(join(PROJECT, 'dist/bin/stap-server.js'))) throw new StepFailed(`${PROJECT}/dist is not built: run scripts/setup.sh`);
    ctx.codePending = resolveCodeRoot(PROJECT, 'stap-server');
    ctx.code = await ctx.codePending;
    tour.checkpoint();
    if (ctx.code.staged) {
      tour.say(`    NOTE: user stap-server cannot read ${PROJECT} (${ctx.code.reason}).`);
      tour.say(`          The servers run as stap-server, so the demo runs a copy of the built code from ${ctx.code.dir}`);
      tour.say('          (removed at the end). For a real install use scripts/install.sh (/usr/local/lib/stap-fleet).');
    } else {
      tour.say(`    code: ${PROJECT} (readable by user stap-server, who runs the compile servers)`);
    }
    ctx.scratch = mkdtempSync('/tmp/stap-fleet-demo-');
    chmodSync(ctx.scratch, 0o755);
    ctx.binDir = join(ctx.scratch, 'bin');
    writeWrappers(ctx.binDir, ctx.code.dir);
  });

  const c = ctx as Ctx;
  const env = { PATH: `${c.binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, NO_COLOR: '1', SSH_AUTH_SOCK: '' };
  const on = async (h: LanHost, argv: string[], opts: { timeoutMs?: number; show?: string } = {}): Promise<RunResult> => {
    const r = await h.exec(argv, { env, timeoutMs: opts.timeoutMs ?? 60_000 });
    return tour.shown(h.name, opts.show ?? argv.map(shellWord).join(' '), r);
  };

  await tour.step('Create the LAN: 5 hosts (network namespaces on one bridge), avahi-daemon and sshd on each', async () => {
    c.lanPending = createLan({ hosts: 5, tag: 'demo', avahi: true });
    c.lan = await c.lanPending;
    tour.checkpoint();
    c.servers = [c.lan.host('h1'), c.lan.host('h2')];
    c.clients = [c.lan.host('h3'), c.lan.host('h4')];
    c.controller = c.lan.host('h5');
    const key = join(c.scratch, 'id_ed25519');
    const keygen = await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'stap-fleet-demo', '-f', key], { timeoutMs: 10_000 });
    if (keygen.failed) throw new StepFailed(`ssh-keygen: ${keygen.stderr.trim()}`);
    tour.checkpoint();
    const pub = readFileSync(`${key}.pub`, 'utf8');
    const known = await Promise.all(c.lan.hosts.map(async (h) => (await h.startSshd({ authorizedKeys: [pub] })).knownHostsLine));
    tour.checkpoint();
    writeFileSync(join(c.scratch, 'known_hosts'), known.join('\n') + '\n');
    writeFileSync(
      join(c.scratch, 'inventory'),
      ['# stap-fleet inventory of the demo LAN', '[servers]', ...c.servers.map((h) => `${h.name} host=${h.ip}`), '[clients]', ...c.clients.map((h) => `${h.name} host=${h.ip}`), ''].join('\n'),
    );
    const role = (h: LanHost) => (c.servers.includes(h) ? 'compile-server host (stap-agent + stap-server)' : c.clients.includes(h) ? 'client host (SystemTap stap client)' : 'controller (stap-fleet)');
    for (const h of c.lan.hosts) tour.say(`    ${h.name}  ${h.ip.padEnd(12)} ${role(h)}`);
    tour.say(`    inventory for the controller (${join(c.scratch, 'inventory')}):`);
    tour.block(readFileSync(join(c.scratch, 'inventory'), 'utf8'), '      | ');
  });

  await tour.step('Configure the server hosts: /etc/sysconfig/stap-server and /etc/stap-server/conf.d/native.conf', async () => {
    const sysconfig = readFileSync(join(PROJECT, 'packaging/sysconfig/stap-server'), 'utf8');
    for (const h of c.servers) {
      writeFileSync(h.path('/etc/sysconfig/stap-server'), sysconfig);
      mkdirSync(h.path('/etc/stap-server/conf.d'), { recursive: true });
      writeFileSync(h.path('/etc/stap-server/conf.d/native.conf'), confFile(h, c.release));
    }
    tour.say('    each server host gets the sample global file (packaging/sysconfig/stap-server) and this server file:');
    tour.block(confFile(c.servers[0]!, c.release), '      | ');
  });

  await tour.step('Start the advertising agents: stap-agent start on h1 and h2', async () => {
    for (const h of c.servers) expectExit(`${h.name}: stap-agent start`, await on(h, ['stap-agent', 'start']));
  });

  await tour.step('Start the compile servers from conf.d: stap-server start on h1 and h2', async () => {
    // Both hosts at once (each generates its certificate on this first start; serials are random, so the two
    // certinfos differ), then the output of each in turn.
    const starts = await Promise.all(c.servers.map((h) => h.exec(['stap-server', 'start'], { env, timeoutMs: 90_000 })));
    c.servers.forEach((h, i) => expectExit(`${h.name}: stap-server start`, tour.shown(h.name, 'stap-server start', starts[i]!)));
    tour.checkpoint();
    for (const h of c.servers) {
      const r = expectExit(`${h.name}: stap-server status`, await on(h, ['stap-server', 'status']));
      if (!r.stdout.includes(`-n "${h.name}-native"`) || !r.stdout.includes(c.release)) {
        throw new StepFailed(`${h.name}: status does not show the conf.d server ${h.name}-native for ${c.release}`);
      }
    }
  });

  const fleet = (args: string[]): string[] => {
    const [command, ...rest] = args;
    return [
      'stap-fleet', command!, ...rest,
      '-i', join(c.scratch, 'inventory'), '-F', '/dev/null', '-l', 'root', '--identity', join(c.scratch, 'id_ed25519'),
      '--known-hosts', join(c.scratch, 'known_hosts'), '--global-known-hosts', '/dev/null',
      '--remote-command', join(c.binDir, 'stap-server'),
    ];
  };
  const fleetShown = (args: string[]) => `stap-fleet ${args.map(shellWord).join(' ')}   # + -i inventory, ssh key, known_hosts`;

  // mDNS responders multicast a record at most once per second (RFC 6762 section 6), so a browse right after
  // another one may miss answers: keep a pause after each browse, and retry (visibly) when a server is missing.
  let lastBrowse = 0;
  const browsePause = async () => {
    const wait = lastBrowse + 1200 - Date.now();
    if (wait > 0) await sleep(wait);
  };
  const fleetUntil = async (args: string[], ok: (r: RunResult) => boolean, what: string, attempts = 3): Promise<RunResult> => {
    let r: RunResult | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      await browsePause();
      r = await on(c.controller, fleet(args), { show: fleetShown(args), timeoutMs: 60_000 });
      lastBrowse = Date.now();
      expectExit(`h5: stap-fleet ${args.join(' ')}`, r);
      if (ok(r)) return r;
      if (attempt < attempts) tour.say(`    (${what}: not yet; mDNS answers are rate-limited to one per second per record, asking again)`);
    }
    throw new StepFailed(attempts > 1 ? `${what}, after ${attempts} attempts` : what);
  };
  const allAdvertised = (r: RunResult) => c.servers.every((h) => new RegExp(`^${h.name}\\s+(running, )?advertised`, 'm').test(r.stdout));

  await tour.step('Discovery from the controller h5: what mDNS advertises (_stap._tcp servers, _stap-agent._tcp agents)', async () => {
    // First wait (quietly) until h5's own avahi-daemon has seen both servers announced by the agents.
    const deadline = Date.now() + 20_000;
    let seen: string[] = [];
    while (Date.now() < deadline) {
      seen = (await c.controller.avahiBrowse('_stap._tcp')).map((e) => `'${e.name}' ${e.address}:${e.port}`);
      lastBrowse = Date.now();
      if (seen.length >= c.servers.length) break;
      await sleep(1000);
    }
    tour.say(`    avahi-browse -rpt _stap._tcp on h5: ${seen.join(', ') || 'nothing'}`);
    expectExit('h1: stap-agent status', await on(c.servers[0]!, ['stap-agent', 'status']));
    if (seen.length < c.servers.length) throw new StepFailed(`only ${seen.length} of ${c.servers.length} compile servers advertised over mDNS after 20 s`);
    await fleetUntil(['status', '--mdns-only'], allAdvertised, 'both servers advertised');
  });

  await tour.step('Fleet status from h5: stap-server status --json on every host over SSH, merged with mDNS', async () => {
    // One run: status itself asks mDNS again when SSH shows a running server that the first browse missed.
    await fleetUntil(['status'], (r) => c.servers.every((h) => new RegExp(`^${h.name}\\s+running, advertised`, 'm').test(r.stdout)), 'both servers "running, advertised"', 1);
  });

  await tour.step('Trust enrollment of the client hosts: stap-fleet trust @clients (servers found by mDNS)', async () => {
    const r = await on(c.controller, fleet(['trust', '@clients']), { show: fleetShown(['trust', '@clients']), timeoutMs: 90_000 });
    expectExit('h5: stap-fleet trust @clients', r);
  });

  await tour.step('Compile on a client through a server found by mDNS: stap --use-server -p2', async () => {
    const client = c.clients[0]!;
    const list = await client.exec(['stap', '--list-servers=online,trusted'], { env, timeoutMs: 30_000 });
    expectExit(`${client.name}: stap --list-servers`, tour.shown(client.name, 'stap --list-servers=online,trusted', list, { stderr: true }));
    const logs = c.servers.map((h) => ({ h, file: h.path('/var/log/stap-server/log'), before: safeSize(h.path('/var/log/stap-server/log')) }));
    const argv = ['stap', '--use-server', '-r', c.release, '-p2', '-e', SCRIPT];
    const r = await on(client, argv, { timeoutMs: 120_000 });
    expectExit(`${client.name}: stap --use-server`, r);
    if (!/probe begin|^begin/m.test(r.stdout)) throw new StepFailed('stap -p2 printed no elaborated probe');
    const used = logs.filter((l) => readFromOffset(l.file, l.before).includes(`Accepted connection from [::ffff:${client.ip}]`));
    if (!used.length) throw new StepFailed(`no server log shows a connection from ${client.name} (${client.ip})`);
    tour.say(`    served by ${used.map((l) => l.h.name).join(', ')}: its log (/var/log/stap-server/log) shows "Accepted connection from [::ffff:${client.ip}]"`);
    const other = c.clients[1]!;
    const r2 = await other.exec(argv, { env, timeoutMs: 120_000 });
    expectExit(`${other.name}: stap --use-server`, r2);
    tour.say(`    ${other.name} compiled the same script through the fleet too (exit 0, ${seconds(r2.durationMs)})`);
  });

  await tour.step('Final fleet status from h5', async () => {
    // One run: status itself asks mDNS again when SSH shows a running server that the first browse missed.
    await fleetUntil(['status'], (r) => c.servers.every((h) => new RegExp(`^${h.name}\\s+running, advertised`, 'm').test(r.stdout)), 'both servers "running, advertised"', 1);
  });

  await tour.step('Stop the servers fleet-wide: stap-fleet stop @servers', async () => {
    expectExit('h5: stap-fleet stop @servers', await on(c.controller, fleet(['stop', '@servers']), { show: fleetShown(['stop', '@servers']), timeoutMs: 60_000 }));
    for (const h of c.servers) {
      const r = await h.exec(['stap-server', 'status'], { env });
      if (r.exitCode !== 3) throw new StepFailed(`${h.name}: stap-server status exits ${r.exitCode} after the stop (3 expected: nothing running)`);
    }
    tour.say('    stap-server status on h1 and h2 now exits 3 (no server running)');
  });
}

async function teardownAll(tour: Tour, ctx: Partial<Ctx>): Promise<void> {
  const t0 = Date.now();
  tour.announce();
  tour.announce(bold('Teardown: stop every daemon, delete the namespaces and the scratch files'));
  const problems: string[] = [];
  const lan = ctx.lan ?? (await ctx.lanPending?.catch(() => undefined));
  if (lan) {
    // The servers and agents were started by stap-server/stap-agent, not by the harness: stop them politely
    // first (their advertisements are withdrawn), then destroy() kills whatever is left in each namespace.
    await Promise.all(
      (ctx.servers ?? []).map(async (h) => {
        const env = { PATH: `${ctx.binDir}:${process.env.PATH ?? ''}`, STAP_SERVER_STOP_TIMEOUT_MS: '3000' };
        await h.exec(['stap-server', 'stop'], { env, timeoutMs: 15_000 }).catch(() => undefined);
        await h.exec(['stap-agent', 'stop'], { env, timeoutMs: 10_000 }).catch(() => undefined);
      }),
    );
    try {
      await lan.destroy();
    } catch (err) {
      problems.push(`LAN: ${(err as Error).message}`);
    }
    const left = namespacesOf(lan);
    if (left.length) problems.push(`namespaces left: ${left.join(' ')}`);
  }
  if (ctx.scratch) rmSync(ctx.scratch, { recursive: true, force: true });
  const code = ctx.code ?? (await ctx.codePending?.catch(() => undefined));
  if (code?.staged) rmSync(code.dir, { recursive: true, force: true });
  if (problems.length) tour.announce(`    teardown problems: ${problems.join('; ')}`);
  else tour.announce(`    done: no namespace, process or scratch file of the demo is left (${seconds(Date.now() - t0)})`);
}

function namespacesOf(lan: Lan): string[] {
  try {
    const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    const ours = new Set([lan.bridgeNs, ...lan.hosts.map((h) => h.ns)]);
    return out.split('\n').map((l) => l.split(' ')[0]!).filter((n) => ours.has(n));
  } catch {
    return [];
  }
}

function safeSize(file: string): number {
  try {
    return readFileSync(file).length;
  } catch {
    return 0;
  }
}

function readFromOffset(file: string, offset: number): string {
  try {
    return readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

function shellWord(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./[\]-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

process.exitCode = await main();
