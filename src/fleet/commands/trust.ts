/**
 * `stap-fleet trust`: bulk trust enrollment (section 5 of the stap-server README across a fleet).
 * Collect the servers' certificates (TLS, checked against the advertised certinfo), then on every client
 * host over SSH add (or --revoke) them in the selected NSS databases, verify by reading the databases
 * back, and report a clients x servers matrix.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { seconds } from '../cli-args.js';
import { StapFleetError } from '../../errors.js';
import { FLEET_EXIT } from '../exit-codes.js';
import { runOnHosts } from '../runner.js';
import type { RunnerProgress } from '../runner.js';
import { makeProgress } from '../output/progress.js';
import { makeStyle } from '../output/style.js';
import { buildContext } from './context.js';
import type { FleetContext, FleetOptions } from './context.js';
import { browseStapServers, candidatesFromAdvertisements, collectServers, derFromBase64Output, parseServerSpec, runningServersOf } from '../../trust/collect.js';
import { shQuote } from '../../trust/nss.js';
import { resolveTargets } from '../targets/resolve.js';
import { remoteCommandLine } from './remote.js';
import type { CollectedServer, ServerCandidate } from '../../trust/collect.js';
import { databasesFor, selectionFrom } from '../../trust/enroll/plan.js';
import type { EnrollMode, PlannedServer, TrustSelection } from '../../trust/enroll/plan.js';
import { enrollClient } from '../../trust/enroll/apply.js';
import type { ClientOutcome, EnrollRequest, SudoPolicy } from '../../trust/enroll/apply.js';
import { buildDocument, renderDocument, serverReport } from '../../trust/enroll/report.js';
import type { TrustClientReport, TrustDocument, TrustServerReport } from '../../trust/enroll/report.js';

export interface TrustRequest {
  mode: EnrollMode;
  dryRun: boolean;
  selection: TrustSelection;
  /** `addr:port[=certinfo]` specs. */
  servers: string[];
  /** certinfos to revoke without contacting any server (--revoke only). */
  certinfos: string[];
  /** Browse _stap._tcp for servers (default: when no --server/--certinfo was given). */
  mdnsServers: boolean;
  method: 'auto' | 'certutil';
  /** Base of the per-user database on the clients (default: their $SYSTEMTAP_DIR, else ~/.systemtap). */
  systemtapDir?: string;
  tlsTimeoutMs: number;
  /** Server hosts (node sets): their running servers and stap.cert are read over SSH. */
  serverHosts?: string[];
  /** Only servers whose TXT sysinfo has this release / arch (mDNS selection). */
  serverFilter?: { release?: string; arch?: string };
}

const CERTINFO_RE = /^[0-9a-f]{2}(:[0-9a-f]{2})+$/;

function useServerOf(s: { address: string; port: number }): string {
  return s.address.includes(':') ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`;
}

/** Servers to act on: collected ones (checked), plus certinfo-only ones for --revoke. */
export async function selectServers(
  ctx: FleetContext,
  req: TrustRequest,
): Promise<{ planned: PlannedServer[]; reports: TrustServerReport[] }> {
  const cands: ServerCandidate[] = req.servers.map(parseServerSpec);
  if (req.mdnsServers) {
    const ads = await browseStapServers({ maxMs: Math.max(ctx.options.mdnsTimeoutMs, 1600), quietMs: Math.max(ctx.options.mdnsQuietMs, 400) });
    cands.push(...candidatesFromAdvertisements(ads, req.serverFilter ?? {}));
  }
  const reports: TrustServerReport[] = [];
  if (req.serverHosts?.length) {
    const fromHosts = await serversFromHosts(ctx, req.serverHosts);
    cands.push(...fromHosts.candidates);
    reports.push(...fromHosts.problems);
  }
  const collected: CollectedServer[] = cands.length ? await collectServers(cands, { timeoutMs: req.tlsTimeoutMs }) : [];
  const planned: PlannedServer[] = [];
  const seen = new Set<string>();
  const byCertinfo = new Map<string, CollectedServer>();
  for (const c of collected) {
    if (c.status === 'ok' && c.certinfo && c.sha256 && c.der) {
      // The same server seen twice (e.g. one advertisement per release) is one column.
      if (seen.has(c.sha256)) continue;
      // Two different certificates with one serial and one issuer cannot live in one NSS database
      // (SEC_ERROR_REUSED_ISSUER_AND_SERIAL), and revoking by certinfo could not tell them apart.
      const twin = byCertinfo.get(c.certinfo);
      if (twin) {
        reports.push({
          ...serverReport(c),
          status: 'conflict',
          message: `${c.name}: certificate serial ${c.certinfo} is also used by another certificate (${twin.name}); NSS cannot trust both: regenerate one server's certificate; skipped`,
        });
        continue;
      }
      byCertinfo.set(c.certinfo, c);
      seen.add(c.sha256);
      planned.push({ name: c.name, certinfo: c.certinfo, sha256: c.sha256, der: c.der, useServer: useServerOf(c) });
      reports.push(serverReport(c));
    } else if (req.mode === 'revoke' && c.status === 'unreachable' && c.claimedCertinfo && CERTINFO_RE.test(c.claimedCertinfo)) {
      // Revoking needs no contact: the claimed certinfo is what we remove (like stap --trust-servers=revoke).
      planned.push({ name: c.name, certinfo: c.claimedCertinfo });
      reports.push({ ...serverReport(c), status: 'certinfo-only', message: undefined });
    } else {
      reports.push(serverReport(c));
    }
  }
  for (const ci of req.certinfos) {
    planned.push({ name: ci, certinfo: ci });
    reports.push({ name: ci, address: '-', port: 0, source: 'cli', status: 'certinfo-only', certinfo: ci });
  }
  return { planned, reports };
}

/**
 * The servers running on the given hosts, read over SSH: `stap-server status --json` for their ports and
 * ssl dirs, then each stap.cert. TLS must later present that same certificate (else: possible spoof).
 */
export async function serversFromHosts(
  ctx: FleetContext,
  expressions: string[],
): Promise<{ candidates: ServerCandidate[]; problems: TrustServerReport[] }> {
  const o = ctx.options;
  const targets = resolveTargets({ expressions, inventory: ctx.inventory, sshConfig: ctx.sshConfig, user: o.user, port: o.port, identityFiles: o.identity });
  const results = await runOnHosts(
    targets,
    ctx.transport,
    async (conn, target) => {
      const st = await conn.run(remoteCommandLine(o.remoteCommand, ['status', '--json']), { timeoutMs: o.commandTimeoutMs });
      const found: ServerCandidate[] = [];
      const problems: string[] = [];
      for (const sv of runningServersOf(st.stdout)) {
        const r = await conn.run(`base64 < ${shQuote(`${sv.sslDir}/stap.cert`)}`, { timeoutMs: o.commandTimeoutMs });
        const der = r.exitCode === 0 ? derFromBase64Output(r.stdout) : undefined;
        if (!der) {
          problems.push(`${target.name}: cannot read ${sv.sslDir}/stap.cert: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
          continue;
        }
        found.push({
          name: `${target.name}:${sv.port}`,
          address: target.hostname,
          port: sv.port!,
          claimedCertinfo: sv.certinfo ?? undefined,
          source: 'ssh',
          sshDer: der,
        });
      }
      if (found.length === 0 && problems.length === 0) problems.push(`${target.name}: no running server in '${o.remoteCommand} status --json' (exit code ${st.exitCode})`);
      return { found, problems };
    },
    { fanout: o.fanout, connectTimeoutMs: o.connectTimeoutMs, categorize: () => ({ category: 'ok' }) },
  );
  const candidates: ServerCandidate[] = [];
  const problems: TrustServerReport[] = [];
  for (const r of results) {
    candidates.push(...(r.value?.found ?? []));
    const msgs = r.value ? r.value.problems : [r.shortMessage ?? `${r.target.name}: ${r.category}`];
    for (const m of msgs) problems.push({ name: r.target.name, address: r.target.hostname, port: 0, source: 'ssh', status: 'unreachable', message: m });
  }
  return { candidates, problems };
}

export async function fleetTrust(
  ctx: FleetContext,
  req: TrustRequest,
  opts: { onProgress?: (p: RunnerProgress) => void; onServersCollected?: (r: TrustServerReport[]) => void } = {},
): Promise<TrustDocument> {
  const o = ctx.options;
  const [{ targets }, servers] = await Promise.all([ctx.resolve(), selectServers(ctx, req)]);
  opts.onServersCollected?.(servers.reports);
  if (targets.length === 0) throw new StapFleetError('SF_TARGETS', { detail: 'no client hosts selected (give node sets, --clients or an inventory)' });
  const dbs = databasesFor(req.selection, req.systemtapDir);
  let clients: TrustClientReport[] = [];
  if (servers.planned.length > 0) {
    // One request object for every client (its enrollment script is built once).
    const enroll: EnrollRequest = {
      mode: req.mode,
      dbs,
      servers: servers.planned,
      dryRun: req.dryRun,
      method: req.method,
      sudo: o.sudo as SudoPolicy,
      commandTimeoutMs: o.commandTimeoutMs,
    };
    const results = await runOnHosts(
      targets,
      ctx.transport,
      (conn) => enrollClient(conn, enroll),
      {
        fanout: o.fanout,
        connectTimeoutMs: o.connectTimeoutMs,
        onProgress: opts.onProgress,
        categorize: (v: ClientOutcome) => ({ category: v.category, shortMessage: v.shortMessage }),
      },
    );
    clients = results.map((r): TrustClientReport => {
      const v = r.value;
      const cells = Object.fromEntries((v?.verification?.cells ?? []).map((c) => [c.server, c.state]));
      const detail = Object.fromEntries((v?.verification?.cells ?? []).map((c) => [c.server, c.dbs]));
      return {
        client: r.target.name,
        hostname: r.target.hostname,
        category: r.category,
        changed: !!v?.verification?.changed,
        cells,
        detail,
        problems: v?.verification?.problems ?? [],
        message: r.shortMessage,
        durationMs: Math.round(r.durationMs),
      };
    });
  } else {
    clients = targets.map((t) => ({ client: t.name, hostname: t.hostname, category: 'ok', changed: false, cells: {}, detail: {}, problems: [], durationMs: 0 }));
  }
  const doc = buildDocument({ mode: req.mode, dryRun: req.dryRun, trust: req.selection, servers: servers.reports, clients });
  if (servers.planned.length === 0) {
    // Nothing could be selected: never a silent success.
    return { ...doc, noChange: false, exitCode: Math.max(doc.exitCode, FLEET_EXIT.failed) };
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------------
// commander wiring

function certinfoArg(v: string, prev: string[]): string[] {
  const c = v.toLowerCase();
  if (!CERTINFO_RE.test(c)) throw new InvalidArgumentError(`'${v}' is not a certinfo (hex pairs joined by ':')`);
  return [...prev, c];
}
const collect = (v: string, prev: string[]) => [...prev, v];

export const TRUST_HELP = `
What it does (stap --trust-servers=ssl|signer[,all-users],no-prompt --use-server=ADDR:PORT, fleet-wide):
  1. collect: every selected server's certificate is fetched over TLS and its serial compared with the
     certinfo it advertises (or that --server ADDR:PORT=CERTINFO names); a mismatch is a possible spoof:
     that server is skipped and reported.
  2. enroll: on each client over SSH, the certificate goes into the NSS database(s), nickname stap-server,
     trust P,P,P: the client's stap adds it where installed and able to reach the server (--method auto),
     else certutil installs the collected certificate.
  3. verify: the databases are read back with certutil; a client whose trust did not take is a failure.

Databases (on the clients):
  default        $SYSTEMTAP_DIR/ssl/client, else ~/.systemtap/ssl/client of the login user
  --all-users    /etc/systemtap/ssl/client          (root: sudo -n when the login user is not root)
  --signer       /etc/systemtap/staprun             (root; directory root-owned, not group/other-writable)

Exit codes (the highest wins): 0 ok, 1 controller error, 2 usage, 3 some client failed or some server
  was skipped, 4 timeout, 5 unreachable, 6 auth refused, 7 host key refused.`;

export interface TrustCommandDeps {
  io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream; env: NodeJS.ProcessEnv };
  setExitCode: (code: number) => void;
  /** The fleet CLI's shared SSH/target option set and its mapping (cli.ts; injected, as cli.ts loads this module lazily). */
  addCommonOptions: (cmd: Command, sudoHelp?: string) => Command;
  toFleetOptions: (targets: string[], o: Record<string, unknown>) => FleetOptions;
  buildContext?: (o: FleetOptions) => FleetContext;
}

export function registerTrustCommand(program: Command, deps: TrustCommandDeps): Command {
  const base = program
    .command('trust')
    .description('add (or --revoke) trust in compile servers on many client hosts over SSH, verified, as a clients x servers matrix')
    .argument('[clients...]', 'client hosts: node sets (h[1-10], @group, !h3)')
    .option('-c, --clients <nodeset>', 'client hosts (repeatable; same as the positional node sets)', collect, [])
    .option('-s, --server <addr:port[=certinfo]>', 'a server to trust; with =certinfo the presented certificate must have that serial (repeatable)', collect, [])
    .option('--server-hosts <nodeset>', "server hosts: their running servers ('stap-server status --json') and stap.cert read over SSH, and TLS must present that certificate (repeatable)", collect, [])
    .option('--mdns-servers', 'also select the servers advertised over mDNS (_stap._tcp); the default without --server/--server-hosts/--certinfo', false)
    .option('--certinfo <certinfo>', 'with --revoke: a server certificate serial to remove without contacting it (repeatable)', certinfoArg, [])
    .option('--ssl', 'SSL peer trust (the default unless only --signer is given)', false)
    .option('--all-users', 'SSL trust for all users (/etc/systemtap/ssl/client) instead of the login user', false)
    .option('--signer', 'trust as module signer (/etc/systemtap/staprun)', false)
    .option('--revoke', 'remove the selected servers\u2019 certificates (by certinfo) and verify they are gone', false)
    .option('-n, --dry-run', 'print the plan; change nothing', false)
    .addOption(new Option('--method <method>', "auto: the client's stap adds the trust where it can, certutil otherwise; certutil: always certutil").choices(['auto', 'certutil']).default('auto'))
    .option('--systemtap-dir <dir>', "per-user database base on the clients (default: the client's $SYSTEMTAP_DIR, else ~/.systemtap)")
    .addOption(new Option('--tls-timeout <s>', 'time to fetch each server certificate, seconds').argParser(seconds).default(5000, '5'));
  const cmd = deps.addCommonOptions(base, 'auto: sudo -n for the root databases (--signer, --all-users) when the login user is not root').addHelpText(
    'after',
    `${TRUST_HELP}\n\nExamples:\n  stap-fleet trust 'client[1-10]'                           # every advertised server, login user\n  stap-fleet trust @clients --all-users --signer -s 10.0.0.1:7777\n  stap-fleet trust @clients -s 10.0.0.1:7777=00:cc:24:bf:1d --dry-run\n  stap-fleet trust @clients --revoke --certinfo 00:cc:24:bf:1d --json\n`,
  );
  cmd.action(async (positional: string[], o: Record<string, unknown>) => {
    const clients = [...positional, ...((o.clients as string[]) ?? [])];
    const options = deps.toFleetOptions(clients, o);
    const servers = (o.server as string[]) ?? [];
    const certinfos = (o.certinfo as string[]) ?? [];
    const serverHosts = (o.serverHosts as string[]) ?? [];
    if (certinfos.length && !o.revoke) throw new StapFleetError('SF_USAGE', { detail: '--certinfo without --revoke: trusting needs the certificate itself (use --server ADDR:PORT=CERTINFO)' });
    const req: TrustRequest = {
      mode: o.revoke ? 'revoke' : 'enroll',
      dryRun: !!o.dryRun,
      selection: selectionFrom({ ssl: !!o.ssl, allUsers: !!o.allUsers, signer: !!o.signer }),
      servers,
      certinfos,
      serverHosts,
      mdnsServers: options.mdns && (!!o.mdnsServers || (servers.length === 0 && certinfos.length === 0 && serverHosts.length === 0)),
      method: o.method as 'auto' | 'certutil',
      systemtapDir: o.systemtapDir as string | undefined,
      tlsTimeoutMs: (o.tlsTimeout as number) ?? 5000,
      serverFilter: { release: options.release, arch: options.arch },
    };
    if (!req.mdnsServers && servers.length === 0 && certinfos.length === 0 && serverHosts.length === 0) {
      throw new StapFleetError('SF_USAGE', { detail: 'no servers: give --server ADDR:PORT, --server-hosts NODESET, --certinfo (with --revoke), or allow mDNS' });
    }
    // Clients come from node sets / inventory; browse mDNS for clients only when none were named.
    // --release/--arch select servers here, not client hosts.
    const ctx = (deps.buildContext ?? buildContext)({ ...options, mdns: options.mdns && clients.length === 0, release: undefined, arch: undefined });
    const progress = makeProgress(deps.io.stderr, options.progress && !options.json, 'trust');
    try {
      const doc = await fleetTrust(ctx, req, { onProgress: (p) => progress.update(p) });
      progress.done();
      deps.io.stdout.write(options.json ? JSON.stringify(doc, null, 2) + '\n' : renderDocument(doc, makeStyle(deps.io.stdout, deps.io.env)));
      deps.setExitCode(doc.exitCode);
    } finally {
      await ctx.transport.dispose?.();
    }
  });
  return cmd;
}

