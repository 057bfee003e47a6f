/**
 * Verification from the databases as read on the client after the change, never from exit statuses
 * (stap's own exit status does not show a refusal). Pure.
 */
import type { DbEvent, DbState, TrustDbKind } from '../nss.js';
import type { ClientPlan, EnrollMode, PlannedServer } from './plan.js';

/**
 * One client x server cell:
 * added / revoked: changed and verified; present / absent: already as wanted (no change);
 * planned-add / planned-revoke: --dry-run; failed: not as wanted after the run.
 */
export type CellState = 'added' | 'present' | 'revoked' | 'absent' | 'planned-add' | 'planned-revoke' | 'failed';

export interface DbCell {
  kind: TrustDbKind;
  dir: string;
  state: CellState;
  /** How the certificate was added (stap or certutil). */
  method?: 'stap' | 'certutil';
  detail?: string;
}

export interface Cell {
  server: string;
  state: CellState;
  dbs: DbCell[];
}

export interface ClientVerification {
  cells: Cell[];
  /** Client-level problems (database errors, unexpected certificates). */
  problems: string[];
  changed: boolean;
  failed: boolean;
}

/** SSL trust needs P in the first trust field; signer trust needs it in the third (object signing). */
export function trustTakes(kind: TrustDbKind, trust: string | undefined): boolean {
  if (trust === undefined) return false;
  const [ssl = '', , objsign = ''] = trust.split(',');
  return kind === 'signer' ? objsign.includes('P') || objsign.includes('C') : ssl.includes('P') || ssl.includes('C');
}

export function combineCells(states: CellState[]): CellState {
  if (states.includes('failed')) return 'failed';
  for (const s of ['added', 'revoked', 'planned-add', 'planned-revoke'] as const) if (states.includes(s)) return s;
  if (states.includes('present')) return 'present';
  return 'absent';
}

export function dryRunCells(plan: ClientPlan, servers: PlannedServer[]): ClientVerification {
  const cells = servers.map((s) => {
    const dbs = plan.dbs.map((d): DbCell => {
      const act = d.actions.find((a) => a.server === s.name);
      const state: CellState = act ? (act.op === 'add' ? 'planned-add' : 'planned-revoke') : plan.mode === 'enroll' ? 'present' : 'absent';
      return { kind: d.kind, dir: d.dir, state };
    });
    return { server: s.name, state: combineCells(dbs.map((d) => d.state)), dbs };
  });
  return { cells, problems: [], changed: false, failed: false };
}

export function verifyClient(
  mode: EnrollMode,
  servers: PlannedServer[],
  before: DbState[],
  after: DbState[],
  events: DbEvent[],
): ClientVerification {
  const problems: string[] = [];
  for (const st of after) if (st.error) problems.push(`${st.dir}: ${st.error}`);
  for (const ev of events) if (ev.op === 'error') problems.push(`${ev.dir}: ${ev.detail ?? 'error'}`);

  // A certificate that appeared but is none of the collected ones (e.g. stap imported what an impostor
  // on the client's network path presented) is a failure, named by its certinfo.
  const wanted = new Set(servers.map((s) => s.sha256).filter(Boolean));
  for (const st of after) {
    const prev = before.find((b) => b.kind === st.kind);
    for (const c of st.certs) {
      if (!wanted.has(c.sha256) && !prev?.certs.some((p) => p.sha256 === c.sha256)) {
        problems.push(`${st.dir}: unexpected certificate ${c.certinfo} appeared (not one of the collected servers)`);
      }
    }
  }

  const cells = servers.map((s): Cell => {
    const dbs = after.map((st): DbCell => {
      const prev = before.find((b) => b.kind === st.kind);
      const base = { kind: st.kind, dir: st.dir };
      if (mode === 'enroll') {
        const now = st.certs.find((c) => c.sha256 === s.sha256);
        const was = prev?.certs.some((c) => c.sha256 === s.sha256) ?? false;
        const ev = events.find((e) => e.sha256 === s.sha256 && e.kind === st.kind);
        if (!now) {
          return { ...base, state: 'failed', detail: ev?.op === 'add-failed' ? `certutil: ${ev.detail ?? 'failed'}` : 'not in the database after enrollment' };
        }
        if (!trustTakes(st.kind, now.trust)) return { ...base, state: 'failed', detail: `present but not trusted (trust ${now.trust ?? 'unknown'})` };
        return was ? { ...base, state: 'present' } : { ...base, state: 'added', method: ev?.method };
      }
      const still = st.certs.filter((c) => c.certinfo === s.certinfo);
      if (still.length) return { ...base, state: 'failed', detail: `certificate ${s.certinfo} still present after revoke` };
      const had = prev?.certs.some((c) => c.certinfo === s.certinfo) ?? false;
      return { ...base, state: had ? 'revoked' : 'absent' };
    });
    return { server: s.name, state: combineCells(dbs.map((d) => d.state)), dbs };
  });

  const failed = problems.length > 0 || cells.some((c) => c.state === 'failed');
  const changed = cells.some((c) => c.state === 'added' || c.state === 'revoked');
  return { cells, problems, changed, failed };
}
