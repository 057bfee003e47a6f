#!/usr/bin/env node
/** stap-agent {run|start|stop|status}: advertises this host's compile servers over mDNS (see docs/agent.md). */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { exitCodeFor } from '../errors.js';
import { Agent, defaultAgentOptions, type AgentOptions } from '../local/agent/daemon.js';
import { claimPidFile, releasePidFile, runningAgentPid, startAgentProcess, stopAgent } from '../local/agent/launch.js';
import { defaultLogFile, pidFile, readState } from '../local/agent/state.js';
import { resolveInterfaces } from '../local/agent/embedded.js';

interface CommonOpts {
  statPath?: string;
}
interface RunOpts extends CommonOpts {
  backend: 'auto' | 'avahi' | 'embedded';
  avahiServicesDir?: string;
  avahiPidFile?: string;
  interface: string[];
  sshPort: string;
  pollMs: string;
  avahiGraceMs: string;
  advertiseAgent: boolean;
  instanceHost?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function addRunOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <kind>', 'auto: Avahi when avahi-daemon runs, else embedded').choices(['auto', 'avahi', 'embedded']).default('auto'))
    .option('--avahi-services-dir <dir>', 'Avahi static service directory (env STAP_AGENT_AVAHI_SERVICES_DIR)', undefined)
    .option('--avahi-pid-file <file>', 'avahi-daemon pid file used to detect it (env STAP_AGENT_AVAHI_PID_FILE)', undefined)
    .option('--interface <name|ipv4>', 'interface for the embedded responder; repeatable (default: all)', collect, [])
    .option('--ssh-port <n>', 'SSH port advertised in the _stap-agent._tcp record', '22')
    .option('--poll-ms <n>', 'process liveness poll interval', '200')
    .option('--avahi-grace-ms <n>', 'auto backend: how long a vanished avahi-daemon keeps the Avahi backend (a restart)', '10000')
    .option('--no-advertise-agent', 'do not advertise the host itself as _stap-agent._tcp')
    .option('--instance-host <name>', 'host name used in instance names, "Systemtap Compile Server on <name>" (default: uname -n)');
}

function statPathOption(cmd: Command): Command {
  return cmd.option('--stat-path <dir>', 'STAT_PATH of the servers (env STAT_PATH, default /var/run/stap-server)');
}

function toAgentOptions(o: RunOpts): AgentOptions {
  const num = (v: string, name: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      process.stderr.write(`stap-agent: --${name} must be an integer ${min}..${max}, got '${v}'\n`);
      process.exit(2);
    }
    return n;
  };
  return defaultAgentOptions({
    ...(o.statPath ? { statPath: o.statPath } : {}),
    backend: o.backend,
    ...(o.avahiServicesDir ? { avahiServicesDir: o.avahiServicesDir } : {}),
    ...(o.avahiPidFile ? { avahiPidFile: o.avahiPidFile } : {}),
    interfaces: o.interface,
    sshPort: num(o.sshPort, 'ssh-port', 1, 65535),
    pollMs: num(o.pollMs, 'poll-ms', 20, 60_000),
    avahiGraceMs: num(o.avahiGraceMs, 'avahi-grace-ms', 0, 3_600_000),
    advertiseAgent: o.advertiseAgent,
    ...(o.instanceHost ? { instanceHost: o.instanceHost } : {}),
  });
}

function runArgs(o: RunOpts): string[] {
  const a = ['--backend', o.backend, '--ssh-port', o.sshPort, '--poll-ms', o.pollMs, '--avahi-grace-ms', o.avahiGraceMs];
  if (o.avahiServicesDir) a.push('--avahi-services-dir', o.avahiServicesDir);
  if (o.avahiPidFile) a.push('--avahi-pid-file', o.avahiPidFile);
  for (const i of o.interface) a.push('--interface', i);
  if (!o.advertiseAgent) a.push('--no-advertise-agent');
  if (o.instanceHost) a.push('--instance-host', o.instanceHost);
  return a;
}

const statPathOf = (o: CommonOpts): string => defaultAgentOptions(o.statPath ? { statPath: o.statPath } : {}).statPath;

const program = new Command('stap-agent')
  .description('Advertise the compile servers of this host over mDNS (DNS-SD _stap._tcp), Avahi-aware.')
  .addHelpText(
    'after',
    `
Examples:
  stap-agent start                      start in the background for /var/run/stap-server
  stap-agent status --json              what is advertised, through which backend
  stap-agent run --backend embedded --interface eth0 --ssh-port 2222
  stap-agent stop                       withdraw everything and exit

Exit codes: status 0 running, 1 stale pid file, 3 not running; otherwise 0 ok, 1 failure, 2 bad option value,
6 bad --interface. See docs/agent.md.`,
  );

addRunOptions(statPathOption(program.command('run').description('run in the foreground (as a service manager would)'))).action(async (o: RunOpts) => {
  process.title = 'stap-agent';
  process.umask(0o022); // a daemon's own umask: what it publishes is read by avahi-daemon and non-root users
  const opts = toAgentOptions(o);
  resolveInterfaces(opts.interfaces); // a wrong --interface is a configuration error (exit 6), not a silent no-op
  claimPidFile(opts.statPath);
  const agent = new Agent(opts);
  let stopping = false;
  const stop = async (sig: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    opts.log(`Received ${sig}`);
    await agent.stop();
    releasePidFile(opts.statPath);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => agent.kick());
  try {
    await agent.start();
  } catch (e) {
    releasePidFile(opts.statPath);
    throw e;
  }
});

addRunOptions(statPathOption(program.command('start').description('start in the background (no-op when running)')))
  .option('--log <file>', 'log file (default STAT_PATH/.stap-agent.log)')
  .action(async (o: RunOpts & { log?: string }) => {
    const statPath = statPathOf(o);
    const running = runningAgentPid(statPath);
    if (running) {
      process.stdout.write(`stap-agent already running (pid ${running})\n`);
      return;
    }
    const r = await startAgentProcess(statPath, o.log ?? defaultLogFile(statPath), runArgs(o), process.env, 10_000);
    process.stdout.write(`Starting stap-agent: OK (pid ${r.pid})\n`);
  });

statPathOption(program.command('stop').description('stop the background agent (withdraws its advertisements)')).action(async (o: CommonOpts) => {
  const r = await stopAgent(statPathOf(o));
  process.stdout.write(r.stopped ? `Stopping stap-agent (pid ${r.pid}): OK\n` : 'Stopping stap-agent: OK (not running)\n');
});

statPathOption(program.command('status').description('what is advertised, through which backend (LSB: 0 running, 1 dead with pid file, 3 stopped)'))
  .option('--json', 'print one JSON document')
  .action((o: CommonOpts & { json?: boolean }) => {
    const statPath = statPathOf(o);
    const pid = runningAgentPid(statPath);
    const state = pid ? readState(statPath) : undefined;
    const exitCode = pid ? 0 : existsSync(pidFile(statPath)) ? 1 : 3;
    if (o.json) {
      process.stdout.write(JSON.stringify({ running: !!pid, pid: pid ?? null, state: state && state.pid === pid ? state : null, exitCode }, null, 2) + '\n');
    } else if (!pid) {
      process.stdout.write(exitCode === 1 ? `stap-agent is not running (stale ${pidFile(statPath)})\n` : 'stap-agent is not running\n');
    } else {
      process.stdout.write(`stap-agent running as PID ${pid}; backend ${state?.backend ?? '?'} (${state?.backendReason ?? 'no state yet'})\n`);
      for (const s of state?.services ?? []) {
        process.stdout.write(`  ${s.type} '${s.name}' port ${s.port} ${s.state}${s.renamedFrom ? ` (renamed from '${s.renamedFrom}')` : ''}: ${s.txt.join(' ')}\n`);
      }
      for (const i of state?.ignored ?? []) process.stdout.write(`  not advertised: pid ${i.pid}: ${i.reason}\n`);
    }
    process.exitCode = exitCode;
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`stap-agent: ${(e as Error).message}\n`);
  process.exitCode = exitCodeFor(e);
});
