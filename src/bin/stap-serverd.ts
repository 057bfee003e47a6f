#!/usr/bin/env node
/** stap-serverd: stap-fleet's SystemTap compile-server daemon (see docs/serverd.md). */
import { parseServerdArgs } from '../local/serverd/options.js';
import { runServerd } from '../local/serverd/daemon.js';
import { ReadinessReporter } from '../local/serverd/readiness.js';
import { StapFleetError } from '../errors.js';

// SystemTap's stap-server script decides liveness with `ps -e | grep stap-serverd`.
process.title = 'stap-serverd';
// A daemon sets its own umask (daemon(7)): one inherited from a hardened root shell would make stap.cert
// and the log unreadable to the agent and to admins.
process.umask(0o022);
const reporter = new ReadinessReporter();

try {
  const parsed = parseServerdArgs(process.argv.slice(2));
  if (parsed.kind === 'exit') {
    process.exitCode = parsed.exitCode;
  } else {
    process.exitCode = await runServerd(parsed.options, process.env, reporter);
  }
} catch (err) {
  const message = err instanceof StapFleetError ? err.message : String((err as Error)?.stack ?? err);
  process.stderr.write(`stap-serverd: ${message}\n`);
  reporter.error(message);
  process.exitCode = 1;
}
