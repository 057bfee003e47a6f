#!/usr/bin/env node
/** stap-server ACTION [options]: the compile-server service of the seed (see docs/service.md). */
import { Command, Option } from 'commander';
import { ACTIONS, failure, isAction, runAction, type ActionResult } from '../local/service/actions.js';

const USAGE = `Usage: stap-server {${ACTIONS.join('|')}} [options]`;

const HELP_AFTER = `
Actions:
  start          start the given servers, else every conf.d server, else one for this host (running ones are kept)
  stop           stop the given servers, else every running server
  restart        stop and start the given (else all running) servers; like start when none runs
  condrestart    restart the given (else all running) servers that run; never starts anything
  try-restart    the same as condrestart
  force-reload   stop every server, re-read the configuration, then start as 'start' does
  status         print every running (or each given) server

Global configuration (/etc/sysconfig/stap-server, then -c; env STAP_SERVER_CONFIG_FILE moves the default):
  CONFIG_PATH    directory of per-server files (default /etc/stap-server/conf.d)
  STAT_PATH      status files of running servers (default /var/run/stap-server)
  LOG_FILE       log file (default /var/log/stap-server/log)
  STAP_USER      user running the servers (default stap-server)

Per-server configuration (CONFIG_PATH/*.conf, one server per file; empty = default):
  ARCH  RELEASE (+= adds a release)  BUILD+=  INCLUDE+=  DEFINE+=  RUNTIME  USER  NICKNAME
  LOG  PORT  SSL  MAXTHREADS  MAXREQSIZE  MAXCOMPRESSEDREQ
  The files are parsed as a small bash subset and never executed (see docs/config.md).

Exit codes:
  status: 0 running, 1 dead with a status file, 3 not running
  others: 0 ok, 1 failure, 2 invalid usage, 4 no privilege, 5 not installed, 6 not configured

Examples:
  stap-server start                               # the conf.d servers, else one for this host
  stap-server start -r 6.1.0-56-amd64 --port 5001 # one server for an installed release
  stap-server start -i                            # one server per release in /lib/modules
  stap-server start -a arm64 -r /kernels/6.1/build   # cross compiling from a build tree
  stap-server status --json                       # every running server as one JSON document
  stap-server restart -n native                   # the server nicknamed native
  stap-server stop -p 4242                        # the server with pid 4242
`;

function helpProgram(): Command {
  // Commander renders --help; the options themselves are walked in order by parseServiceArgs,
  // because accumulation depends on their interleaving, which commander does not keep.
  return new Command('stap-server')
    .usage(`{${ACTIONS.join('|')}} [options]`)
    .description('Manage SystemTap compile servers as a service (LSB exit codes).')
    .addOption(new Option('-c <configfile>', 'global config file processed after the default one (last -c wins)'))
    .addOption(new Option('-a <arch>', 'target architecture (default: the host\'s)'))
    .addOption(new Option('-r <release>', 'kernel release or absolute kernel build tree; repeatable (one server, several releases)'))
    .addOption(new Option('-u <user>', 'user running the server (default STAP_USER, stap-server); must be in group stap-server'))
    .addOption(new Option('-I <path>', 'additional tapset directory; repeatable'))
    .addOption(new Option('-R <path>', 'systemtap runtime directory'))
    .addOption(new Option('-B <options>', 'option for make when building modules; repeatable'))
    .addOption(new Option('-D <macro[=value]>', 'macro definition; repeatable'))
    .addOption(new Option('-i', 'one server per kernel release installed in /lib/modules'))
    .addOption(new Option('-n <nickname>', 'select a server by nickname (running, then conf.d; start-like actions: name a new one)'))
    .addOption(new Option('-p <pid>', 'select the running server with this process id'))
    .addOption(new Option('--log <logfile>', 'log file of the next server (list, applied in turn)'))
    .addOption(new Option('--port <port>', 'port of the next server (list; default: a random free port)'))
    .addOption(new Option('--ssl <dir>', 'certificate directory of the next server (list; default ~USER/.systemtap/ssl/server)'))
    .addOption(new Option('--max-threads <n>', 'worker threads of the next server (list)'))
    .addOption(new Option('--max-request-size <bytes>', 'largest request of the next server (list)'))
    .addOption(new Option('--max-compressed-request <bytes>', 'largest compressed request of the next server (list)'))
    .addOption(new Option('--json', 'status: print one JSON document'))
    .addHelpText('after', HELP_AFTER);
}

function print(r: ActionResult, json: boolean): void {
  if (json) process.stdout.write(JSON.stringify({ servers: r.servers ?? [], exitCode: r.exitCode }, null, 2) + '\n');
  else for (const l of r.lines) process.stdout.write(l + '\n');
  for (const e of r.errors) process.stderr.write(e + '\n');
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help') || argv.length === 0) {
    // outputHelp (unlike helpInformation) includes the text added after the options.
    const usageError = argv.length === 0;
    helpProgram().outputHelp({ error: usageError });
    return usageError ? 2 : 0;
  }
  const [action, ...rest] = argv;
  const json = rest.includes('--json');
  if (!action || !isAction(action)) {
    // SystemTap's script prints usage and exits 0 here; LSB asks for 2 (invalid arguments).
    process.stderr.write(`stap-server: unknown action '${action}'\n${USAGE}\n`);
    return 2;
  }
  let result: ActionResult;
  try {
    result = await runAction(action, rest);
  } catch (err) {
    result = failure(action, err);
    if (result.exitCode === 2) result.errors.push(USAGE);
  }
  print(result, json);
  return result.exitCode;
}

process.exitCode = await main(process.argv.slice(2));
