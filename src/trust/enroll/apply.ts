/**
 * Enrollment on one client over one connection: read the databases, plan, apply the plan, read them
 * again and verify. Databases that need root (all-users, signer) run in a separate script under sudo;
 * the per-user one never does, so `~` and $SYSTEMTAP_DIR stay the login user's.
 */
import type { Connection, HostCategory } from '../../fleet/transport/types.js';
import { buildApplyScript, buildInspectScript, needsRoot, parseScriptOutput } from '../nss.js';
import type { ApplyDbPlan, DbEvent, DbState, TrustDbRef } from '../nss.js';
import { planClient } from './plan.js';
import type { ClientPlan, EnrollMode, PlannedServer } from './plan.js';
import { dryRunCells, verifyClient } from './verify.js';
import type { ClientVerification } from './verify.js';

export type SudoPolicy = 'auto' | 'always' | 'never';

export interface EnrollRequest {
  mode: EnrollMode;
  dbs: TrustDbRef[];
  servers: PlannedServer[];
  dryRun: boolean;
  /** auto: the client's stap adds the trust where installed (certutil otherwise); certutil: certutil only. */
  method: 'auto' | 'certutil';
  sudo: SudoPolicy;
  commandTimeoutMs: number;
}

export interface ClientOutcome {
  client: string;
  category: HostCategory;
  plan?: ClientPlan;
  verification?: ClientVerification;
  before: DbState[];
  after: DbState[];
  events: DbEvent[];
  shortMessage?: string;
  durationMs: number;
}

interface Group {
  root: boolean;
  dbs: TrustDbRef[];
}

function groups(dbs: TrustDbRef[]): Group[] {
  const user = dbs.filter((d) => !needsRoot(d.kind));
  const root = dbs.filter((d) => needsRoot(d.kind));
  return [
    ...(user.length ? [{ root: false, dbs: user }] : []),
    ...(root.length ? [{ root: true, dbs: root }] : []),
  ];
}

class ClientError extends Error {
  constructor(
    readonly category: HostCategory,
    message: string,
  ) {
    super(message);
  }
}

async function runScript(conn: Connection, script: string, root: boolean, req: EnrollRequest) {
  const sudo = root && conn.user !== 'root';
  if (sudo && req.sudo === 'never') {
    throw new ClientError('failed', `${conn.target.name}: ${'signer/all-users trust needs root'}; login user is '${conn.user}' and --sudo never`);
  }
  const viaSudo = sudo || (root && req.sudo === 'always');
  // `exec`: a login shell like dash would otherwise fork and wait for sh (sudo runs sh itself).
  const r = await conn.run(viaSudo ? 'sh -s' : 'exec sh -s', { stdin: script, sudo: viaSudo, timeoutMs: req.commandTimeoutMs });
  if (r.timedOut) throw new ClientError('timeout', `${conn.target.name}: trust script timed out after ${req.commandTimeoutMs} ms`);
  const out = parseScriptOutput(r.stdout);
  if (out.errors.length) throw new ClientError('failed', `${conn.target.name}: ${out.errors.join('; ')}`);
  if (r.exitCode !== 0) {
    const why = r.stderr.trim().split('\n').slice(-2).join(' ') || `exit code ${r.exitCode}`;
    const hint = sudo && /password|sudo/i.test(why) ? ' (signer/all-users need root: allow passwordless sudo for the login user, or log in as root)' : '';
    throw new ClientError('failed', `${conn.target.name}: ${why}${hint}`);
  }
  return out;
}

// The enrollment script is the same for every client of a run: built once per request and group.
const enrollScripts = new WeakMap<EnrollRequest, Map<boolean, string>>();
function enrollScript(req: EnrollRequest, g: Group): string {
  let byGroup = enrollScripts.get(req);
  if (!byGroup) enrollScripts.set(req, (byGroup = new Map()));
  let script = byGroup.get(g.root);
  if (script === undefined) {
    script = buildApplyScript(
      g.dbs.map((db) => ({
        db,
        add: req.servers.filter((s) => s.der).map((s) => ({ der: s.der!, useServer: req.method === 'auto' ? s.useServer : undefined })),
        revoke: [],
      })),
      { method: req.method, dumpBefore: true },
    );
    byGroup.set(g.root, script);
  }
  return script;
}

export async function enrollClient(conn: Connection, req: EnrollRequest): Promise<ClientOutcome> {
  const t0 = performance.now();
  const client = conn.target.name;
  const before: DbState[] = [];
  const after: DbState[] = [];
  const events: DbEvent[] = [];
  try {
    const plans: ClientPlan[] = [];
    for (const g of groups(req.dbs)) {
      if (req.mode === 'enroll' && !req.dryRun) {
        // One round trip: the script lists, adds what is missing (decided on the client), lists again.
        const out = await runScript(conn, enrollScript(req, g), g.root, req);
        const n = g.dbs.length;
        if (out.states.length !== 2 * n) throw new ClientError('failed', `${client}: incomplete output from the trust script`);
        before.push(...out.states.slice(0, n));
        after.push(...out.states.slice(n));
        events.push(...out.events);
        plans.push(planClient(client, g.dbs, out.states.slice(0, n), req.servers, req.mode));
        continue;
      }
      const inspected = await runScript(conn, buildInspectScript(g.dbs), g.root, req);
      before.push(...inspected.states);
      const plan = planClient(client, g.dbs, inspected.states, req.servers, req.mode);
      plans.push(plan);
      if (req.dryRun) continue;
      if (plan.changes === 0) {
        // Nothing to do: what we just read is the verified state.
        after.push(...inspected.states);
        continue;
      }
      const applyPlans: ApplyDbPlan[] = plan.dbs.map((d) => {
        const st = inspected.states.find((s) => s.kind === d.kind);
        return {
          db: d.db,
          add: d.actions
            .filter((a) => a.op === 'add')
            .map((a) => {
              const s = req.servers.find((x) => x.name === a.server)!;
              return { der: s.der!, useServer: req.method === 'auto' ? s.useServer : undefined };
            }),
          revoke: d.actions.filter((a) => a.op === 'revoke').map((a) => a.sha256),
          trustBySha: Object.fromEntries((st?.certs ?? []).filter((c) => c.trust).map((c) => [c.sha256, c.trust!])),
        };
      });
      const applied = await runScript(conn, buildApplyScript(applyPlans, { method: req.method }), g.root, req);
      after.push(...applied.states);
      events.push(...applied.events);
    }
    const plan: ClientPlan = {
      client,
      mode: req.mode,
      dbs: plans.flatMap((p) => p.dbs),
      changes: plans.reduce((n, p) => n + p.changes, 0),
    };
    const verification = req.dryRun ? dryRunCells(plan, req.servers) : verifyClient(req.mode, req.servers, before, after, events);
    return {
      client,
      category: verification.failed ? 'failed' : 'ok',
      plan,
      verification,
      before,
      after,
      events,
      shortMessage: verification.problems.length ? verification.problems.join('; ') : undefined,
      durationMs: performance.now() - t0,
    };
  } catch (err) {
    return {
      client,
      category: err instanceof ClientError ? err.category : 'failed',
      before,
      after,
      events,
      shortMessage: err instanceof Error ? err.message : String(err),
      durationMs: performance.now() - t0,
    };
  }
}
