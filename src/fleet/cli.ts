/** commander wiring of `stap-fleet`; rendering and exit codes. The bin file only calls main(). */
import { Command, CommanderError, Option } from 'commander';
import { millis, positiveInt, seconds } from './cli-args.js';
import { StapFleetError } from '../errors.js';
import { fleetAction } from './commands/action.js';
import { buildContext, defaultFleetOptions } from './commands/context.js';
import type { FleetOptions } from './commands/context.js';
import { SERVICE_ACTIONS } from './commands/remote.js';
import type { ServiceAction, SudoMode } from './commands/remote.js';
import { fleetStatus } from './commands/status.js';
import { FLEET_EXIT } from './exit-codes.js';
import { makeProgress } from './output/progress.js';
import { renderAction, renderStatus } from './output/render.js';
import { makeStyle } from './output/style.js';

const EXIT_CODES_HELP = `
Exit codes (when hosts end differently, the highest code wins):
  0  every host ok
  1  controller error
  2  usage error (options, node set, inventory file)
  3  some host's command failed
  4  some host timed out (connect or command)
  5  some host unreachable
  6  some host refused our authentication
  7  some host's key unknown, changed or revoked`;

const TARGETS_HELP = `
Targets: node sets like clush: h1,h2  h[1-50]  h[01-10]  h[1-3,7]  @group (inventory)  !h3 (exclude);
  -x also excludes. Without targets: every inventory host plus every host found via mDNS
  (_stap-agent._tcp agents and _stap._tcp servers).`;

const collect = (v: string, prev: string[]) => [...prev, v];

/** The SSH/target options of every fleet command; sudoHelp says what --sudo is for in that command. */
export function addCommonOptions(cmd: Command, sudoHelp = 'auto: sudo -n for actions when the login user is not root'): Command {
  const d = defaultFleetOptions();
  return cmd
    .option('-x, --exclude <nodeset>', 'exclude these hosts (repeatable)', collect, [])
    .option('-i, --inventory <file>', 'inventory file (env STAP_FLEET_INVENTORY; default ~/.config/stap-fleet/inventory if it exists)')
    .option('-F, --ssh-config <file>', 'ssh client config for HostName/User/Port/IdentityFile/ProxyJump (default ~/.ssh/config)')
    .option('--ssh-config-hosts', 'add every concrete Host name of the ssh config as a target', false)
    .option('--no-mdns', 'do not browse mDNS (no discovery, no advertisement check)')
    .option('--mdns-timeout <ms>', 'longest mDNS browse', millis, d.mdnsTimeoutMs)
    .option('--mdns-quiet <ms>', 'stop browsing once no new answer came for this long', millis, d.mdnsQuietMs)
    .option('--release <release>', 'only hosts advertising a server (or agent) for this kernel release')
    .option('--arch <arch>', 'only hosts advertising this architecture')
    .option('-l, --user <user>', 'login user (default: inventory, ssh config, then the local user)')
    .option('-p, --port <port>', 'SSH port for every target', positiveInt('port'))
    .option('--identity <file>', 'private key file (repeatable; ssh-agent is used too)', collect, [])
    .option('--known-hosts <file>', 'user known_hosts file (repeatable; default ~/.ssh/known_hosts)', collect, [])
    .option('--global-known-hosts <file>', 'system known_hosts file (repeatable; default /etc/ssh/ssh_known_hosts)', collect, [])
    .option('--accept-new', 'trust on first use: accept and record keys of hosts not in known_hosts (never a changed key)', false)
    .option('-f, --fanout <n>', 'hosts in flight at once', positiveInt('fanout'), d.fanout)
    .option('--connect-attempts <n>', 'attempts when sshd drops a connection before authentication (MaxStartups), with jittered back-off', positiveInt('connect-attempts'), d.connectAttempts)
    .addOption(new Option('-t, --connect-timeout <s>', 'connect timeout per host, seconds').argParser(seconds).default(d.connectTimeoutMs, String(d.connectTimeoutMs / 1000)))
    .addOption(new Option('-u, --command-timeout <s>', 'command timeout per host, seconds').argParser(seconds).default(d.commandTimeoutMs, String(d.commandTimeoutMs / 1000)))
    .addOption(new Option('--transport <name>', 'ssh2 (in-process) or openssh (system ssh)').choices(['ssh2', 'openssh']).default(d.transport))
    .option('--control-master', 'openssh transport: share one connection per host (ControlMaster)', false)
    .option('--remote-command <cmd>', 'stap-server command on the hosts (env STAP_FLEET_REMOTE_COMMAND)', process.env.STAP_FLEET_REMOTE_COMMAND ?? d.remoteCommand)
    .addOption(new Option('--sudo <mode>', sudoHelp).choices(['auto', 'always', 'never']).default(d.sudo))
    .option('--json', 'print one JSON document on stdout', false)
    .option('--no-progress', 'no progress line (it is shown only on a TTY anyway)');
}

export function toFleetOptions(targets: string[], o: Record<string, unknown>): FleetOptions {
  const d = defaultFleetOptions();
  return {
    ...d,
    targets,
    exclude: o.exclude as string[],
    inventory: o.inventory as string | undefined,
    sshConfig: o.sshConfig as string | undefined,
    sshConfigHosts: !!o.sshConfigHosts,
    mdns: o.mdns !== false,
    mdnsTimeoutMs: o.mdnsTimeout as number,
    mdnsQuietMs: o.mdnsQuiet as number,
    release: o.release as string | undefined,
    arch: o.arch as string | undefined,
    user: o.user as string | undefined,
    port: o.port as number | undefined,
    identity: o.identity as string[],
    knownHosts: o.knownHosts as string[],
    globalKnownHosts: o.globalKnownHosts as string[],
    acceptNew: !!o.acceptNew,
    fanout: o.fanout as number,
    connectAttempts: (o.connectAttempts as number | undefined) ?? d.connectAttempts,
    connectTimeoutMs: o.connectTimeout as number,
    commandTimeoutMs: o.commandTimeout as number,
    transport: o.transport as FleetOptions['transport'],
    controlMaster: !!o.controlMaster,
    remoteCommand: o.remoteCommand as string,
    sudo: o.sudo as SudoMode,
    json: !!o.json,
    progress: o.progress !== false,
  };
}

export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const dash = argv.indexOf('--');
  const ours = dash >= 0 ? argv.slice(0, dash) : argv;
  const serverArgs = dash >= 0 ? argv.slice(dash + 1) : [];
  let exitCode: number = FLEET_EXIT.ok;
  const style = makeStyle(io.stdout, io.env);

  const program = new Command('stap-fleet')
    .description('Discover stap-server hosts (mDNS, inventory, ssh config) and run status and service actions on them over SSH')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .addHelpText('after', `${TARGETS_HELP}\n${EXIT_CODES_HELP}\n\nExamples:\n  stap-fleet status\n  stap-fleet status 'h[1-20]' -x h7 --json\n  stap-fleet start @builders -- -r 6.1.0-56-amd64\n  stap-fleet stop --inventory fleet.inv --user ops\n  stap-fleet status --mdns-only --release 6.1.0-56-amd64\n`);

  const status = addCommonOptions(
    program
      .command('status')
      .description('reachability of every host and each server, from stap-server status --json merged with mDNS advertisements')
      .argument('[targets...]', 'node sets (see stap-fleet --help)')
      .option('--mdns-only', 'only what mDNS advertises, no SSH', false),
  ).addHelpText('after', `${TARGETS_HELP}\n${EXIT_CODES_HELP}\n\nExamples:\n  stap-fleet status                       # every discovered and inventory host\n  stap-fleet status 'h[1-10]' --json      # one JSON document\n  stap-fleet status --mdns-only           # quick look, no SSH\n`);
  status.action(async (targets: string[], o: Record<string, unknown>) => {
    if (serverArgs.length) throw new StapFleetError('SF_USAGE', { detail: "status takes no stap-server options after '--'" });
    const options = toFleetOptions(targets, o);
    const ctx = buildContext(options);
    const progress = makeProgress(io.stderr, options.progress && !options.json, 'status');
    try {
      const doc = await fleetStatus(ctx, { mdnsOnly: !!o.mdnsOnly, onProgress: (p) => progress.update(p) });
      progress.done();
      if (doc.hosts.length === 0) io.stderr.write('stap-fleet: no hosts: nothing named, no inventory, nothing advertised over mDNS\n');
      io.stdout.write(options.json ? JSON.stringify(doc, null, 2) + '\n' : renderStatus(doc, style));
      exitCode = doc.exitCode;
    } finally {
      await ctx.transport.dispose?.();
    }
  });

  for (const action of SERVICE_ACTIONS) {
    const cmd = addCommonOptions(
      program
        .command(action)
        .description(`run 'stap-server ${action}' on every target in parallel; options after '--' go to stap-server`)
        .argument('[targets...]', 'node sets (see stap-fleet --help)'),
    ).addHelpText(
      'after',
      `${TARGETS_HELP}\n${EXIT_CODES_HELP}\n\nExamples:\n  stap-fleet ${action} 'h[1-10]'${action === 'start' ? ' -- -r 6.1.0-56-amd64 -a x86_64' : ''}\n  stap-fleet ${action} @builders -x h3 --json\n  stap-fleet ${action} -l ops --sudo auto 'web[1-4]'${action === 'stop' ? ' -- -n nick' : ''}\n`,
    );
    cmd.action(async (targets: string[], o: Record<string, unknown>) => {
      const options = toFleetOptions(targets, o);
      const ctx = buildContext(options);
      const progress = makeProgress(io.stderr, options.progress && !options.json, action);
      try {
        const doc = await fleetAction(ctx, action as ServiceAction, serverArgs, { onProgress: (p) => progress.update(p) });
        progress.done();
        io.stdout.write(options.json ? JSON.stringify(doc, null, 2) + '\n' : renderAction(doc, style));
        exitCode = doc.exitCode;
      } finally {
        await ctx.transport.dispose?.();
      }
    });
  }

  // The trust command pulls in the certificate and NSS code: load it only when it can be needed (its own
  // invocation, help, or an unknown command), not for status and the service actions.
  const first = ours.find((a) => !a.startsWith('-'));
  if (!first || !(SERVICE_ACTIONS as readonly string[]).concat('status').includes(first)) {
    const { registerTrustCommand } = await import('./commands/trust.js');
    registerTrustCommand(program, { io, setExitCode: (c) => (exitCode = c), addCommonOptions, toFleetOptions, buildContext });
  }

  try {
    await program.parseAsync(ours, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return 0;
      if (err.code === 'commander.help') return 0;
      return FLEET_EXIT.usage;
    }
    if (err instanceof StapFleetError) {
      io.stderr.write(`stap-fleet: ${err.message}\n`);
      return err.category === 'usage' ? FLEET_EXIT.usage : FLEET_EXIT.error;
    }
    io.stderr.write(`stap-fleet: ${err instanceof Error ? err.message : String(err)}\n`);
    return FLEET_EXIT.error;
  }
}
