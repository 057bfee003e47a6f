/**
 * What trust enrollment will do on one client: from the databases as read on the client and the servers
 * collected, the certificates to add or revoke per database (pure; what --dry-run prints).
 */
import type { DbState, TrustDbKind, TrustDbRef } from '../nss.js';
import { needsRoot } from '../nss.js';

export type EnrollMode = 'enroll' | 'revoke';

/** Which databases, as in stap's --trust-servers spec. */
export interface TrustSelection {
  /** SSL peer trust (stap's `ssl`). */
  ssl: boolean;
  /** SSL trust for all users instead of the login user (`all-users`). */
  allUsers: boolean;
  /** Module signer trust (`signer`, /etc/systemtap/staprun). */
  signer: boolean;
}

/** A server as far as planning is concerned. */
export interface PlannedServer {
  name: string;
  certinfo: string;
  /** Identity of the collected certificate; undefined when revoking by certinfo alone. */
  sha256?: string;
  der?: Buffer;
  /** addr:port the client's stap may contact to add the trust itself. */
  useServer?: string;
}

export interface DbAction {
  op: 'add' | 'revoke';
  server: string;
  certinfo: string;
  sha256: string;
}

export interface DbPlan {
  db: TrustDbRef;
  kind: TrustDbKind;
  /** Directory as resolved on the client. */
  dir: string;
  actions: DbAction[];
  /** Servers needing nothing in this database (already trusted / already absent). */
  unchanged: string[];
}

export interface ClientPlan {
  client: string;
  mode: EnrollMode;
  dbs: DbPlan[];
  changes: number;
}

/** The databases a selection writes (stap's rules: all-users moves SSL trust to /etc; signer is global). */
export function databasesFor(sel: TrustSelection, systemtapDir?: string): TrustDbRef[] {
  const dbs: TrustDbRef[] = [];
  if (sel.ssl) {
    if (sel.allUsers) dbs.push({ kind: 'ssl-all-users' });
    else dbs.push({ kind: 'ssl-user', dir: systemtapDir ? `${systemtapDir.replace(/\/+$/, '')}/ssl/client` : undefined });
  }
  if (sel.signer) dbs.push({ kind: 'signer' });
  return dbs;
}

/** stap's defaults: SSL unless only signer was asked for. */
export function selectionFrom(o: { ssl?: boolean; allUsers?: boolean; signer?: boolean }): TrustSelection {
  const signer = !!o.signer;
  const ssl = !!o.ssl || !signer;
  return { ssl, allUsers: !!o.allUsers, signer };
}

export function selectionNeedsRoot(dbs: TrustDbRef[]): boolean {
  return dbs.some((d) => needsRoot(d.kind));
}

export function planDb(db: TrustDbRef, state: DbState, servers: PlannedServer[], mode: EnrollMode): DbPlan {
  const actions: DbAction[] = [];
  const unchanged: string[] = [];
  for (const s of servers) {
    if (mode === 'enroll') {
      if (!s.sha256) continue;
      if (state.certs.some((c) => c.sha256 === s.sha256)) unchanged.push(s.name);
      else actions.push({ op: 'add', server: s.name, certinfo: s.certinfo, sha256: s.sha256 });
    } else {
      const victims = state.certs.filter((c) => c.certinfo === s.certinfo);
      if (victims.length === 0) unchanged.push(s.name);
      for (const v of victims) actions.push({ op: 'revoke', server: s.name, certinfo: s.certinfo, sha256: v.sha256 });
    }
  }
  return { db, kind: db.kind, dir: state.dir, actions, unchanged };
}

/** Plans one client from its inspected databases (same order as dbs). */
export function planClient(client: string, dbs: TrustDbRef[], states: DbState[], servers: PlannedServer[], mode: EnrollMode): ClientPlan {
  const plans = dbs.map((db, i) => {
    const st = states.find((s) => s.kind === db.kind) ?? states[i];
    if (!st) throw new Error(`no state read for the ${db.kind} database`);
    return planDb(db, st, servers, mode);
  });
  return { client, mode, dbs: plans, changes: plans.reduce((n, p) => n + p.actions.length, 0) };
}
