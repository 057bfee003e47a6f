#!/usr/bin/env node
/** stap-server ACTION [options]: the compile-server service of the seed (see docs/service.md). */
import { Command, Option } from 'commander';
import { ACTIONS, failure, isAction, runAction, type ActionResult } from '../local/service/actions.js';

const USAGE = `Usage: stap-server {${ACTIONS.join('|')}} [options]`;

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
    .addHelpText(
      'after',
      `\nActions: ${ACTIONS.join(', ')}.\nExit codes: 0 ok; status: 1 dead with a status file, 3 not running; 1 failure, 2 usage, 4 privilege, 5 not installed, 6 not configured.`,
    );
}

function print(r: ActionResult, json: boolean): void {
  if (json) process.stdout.write(JSON.stringify({ servers: r.servers ?? [], exitCode: r.exitCode }, null, 2) + '\n');
  else for (const l of r.lines) process.stdout.write(l + '\n');
  for (const e of r.errors) process.stderr.write(e + '\n');
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help') || argv.length === 0) {
    const program = helpProgram();
    if (argv.length === 0) {
      process.stderr.write(program.helpInformation());
      return 2;
    }
    process.stdout.write(program.helpInformation());
    return 0;
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
