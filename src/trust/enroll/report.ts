/**
 * The clients x servers matrix of a trust run: one JSON document (`--json`) and a plain table.
 * Exit codes follow the fleet scheme (highest category wins); a server that was skipped (possible spoof,
 * unreachable, bad certificate) counts as "failed", since the run did not do what was asked for it.
 */
import { exitCodeForCategories, CATEGORY_LABEL } from '../../fleet/exit-codes.js';
import { renderTable } from '../../fleet/output/table.js';
import type { Style } from '../../fleet/output/style.js';
import type { HostCategory } from '../../fleet/transport/types.js';
import type { CollectedServer } from '../collect.js';
import type { EnrollMode, TrustSelection } from './plan.js';
import type { CellState, DbCell } from './verify.js';

export interface TrustServerReport {
  name: string;
  address: string;
  port: number;
  source: 'mdns' | 'cli' | 'ssh';
  status: 'ok' | 'spoof' | 'unreachable' | 'invalid' | 'conflict' | 'certinfo-only';
  certinfo?: string;
  claimedCertinfo?: string;
  sha256?: string;
  notAfter?: string;
  message?: string;
}

export interface TrustClientReport {
  client: string;
  hostname: string;
  category: HostCategory;
  changed: boolean;
  /** server name -> combined state over the databases; empty when the client was not reached. */
  cells: Record<string, CellState>;
  /** Per server, per database detail. */
  detail: Record<string, DbCell[]>;
  problems: string[];
  message?: string;
  durationMs: number;
}

export interface TrustDocument {
  command: 'trust';
  mode: EnrollMode;
  dryRun: boolean;
  trust: TrustSelection;
  servers: TrustServerReport[];
  clients: TrustClientReport[];
  summary: { changed: string[]; unchanged: string[]; failed: string[]; unreachable: string[]; timeout: string[]; hostkey: string[]; auth: string[]; skippedServers: string[] };
  /** True when nothing changed anywhere (a repeated run). */
  noChange: boolean;
  exitCode: number;
}

export function serverReport(s: CollectedServer | (Omit<CollectedServer, 'status'> & { status: 'certinfo-only' })): TrustServerReport {
  return {
    name: s.name,
    address: s.address,
    port: s.port,
    source: s.source,
    status: s.status,
    certinfo: s.certinfo,
    claimedCertinfo: s.claimedCertinfo,
    sha256: s.sha256,
    notAfter: s.notAfter,
    message: s.shortMessage,
  };
}

export function buildDocument(input: {
  mode: EnrollMode;
  dryRun: boolean;
  trust: TrustSelection;
  servers: TrustServerReport[];
  clients: TrustClientReport[];
}): TrustDocument {
  const summary: TrustDocument['summary'] = { changed: [], unchanged: [], failed: [], unreachable: [], timeout: [], hostkey: [], auth: [], skippedServers: [] };
  for (const c of input.clients) {
    if (c.category === 'ok') (c.changed ? summary.changed : summary.unchanged).push(c.client);
    else summary[c.category].push(c.client);
  }
  summary.skippedServers = input.servers.filter((s) => s.status !== 'ok' && s.status !== 'certinfo-only').map((s) => s.name);
  const categories: HostCategory[] = input.clients.map((c) => c.category);
  if (summary.skippedServers.length) categories.push('failed');
  const noChange = !input.dryRun && input.clients.every((c) => !c.changed) && input.clients.length > 0;
  return { command: 'trust', ...input, summary, noChange, exitCode: exitCodeForCategories(categories) };
}

const CELL_TEXT: Record<CellState, string> = {
  added: 'added',
  present: 'trusted',
  revoked: 'revoked',
  absent: 'absent',
  'planned-add': 'will add',
  'planned-revoke': 'will revoke',
  failed: 'FAILED',
};

export function renderDocument(doc: TrustDocument, style: Style): string {
  const out: string[] = [];
  const what = [doc.trust.ssl ? (doc.trust.allUsers ? 'SSL peer (all users)' : 'SSL peer (login user)') : '', doc.trust.signer ? 'module signer' : '']
    .filter(Boolean)
    .join(' + ');
  out.push(style.bold(`${doc.dryRun ? 'Plan (dry run): ' : ''}${doc.mode === 'revoke' ? 'revoke' : 'add'} trust as ${what}`));
  out.push('');
  out.push(
    renderTable(
      ['SERVER', 'ADDRESS', 'CERTINFO', 'STATUS'],
      doc.servers.map((s) => [s.name, `${s.address}:${s.port}`, s.certinfo ?? s.claimedCertinfo ?? '-', s.status === 'ok' ? 'ok' : s.status === 'certinfo-only' ? 'by certinfo' : `SKIPPED (${s.status})`]),
      (_r, c, t) => (c === 3 && t.startsWith('SKIPPED') ? style.red(t) : t),
    ).trimEnd(),
  );
  for (const s of doc.servers) if (s.message && s.status !== 'ok') out.push(style.red(`  ${s.message}`));
  out.push('');
  const names = doc.servers.filter((s) => s.status === 'ok' || s.status === 'certinfo-only').map((s) => s.name);
  if (names.length) {
    const rows = doc.clients.map((c) => [
      c.client,
      ...names.map((n) => (c.category === 'ok' || c.cells[n] ? CELL_TEXT[c.cells[n] ?? 'failed'] : '-')),
      c.category === 'ok' ? (c.changed ? 'ok (changed)' : doc.dryRun ? 'ok (plan)' : 'ok (no change)') : CATEGORY_LABEL[c.category],
    ]);
    out.push(
      renderTable(['CLIENT', ...names, 'RESULT'], rows, (r, col, t) => {
        const tt = t.trim();
        if (tt === 'FAILED' || (col === names.length + 1 && !tt.startsWith('ok'))) return style.red(t);
        if (tt === 'added' || tt === 'revoked') return style.green(t);
        return t;
      }).trimEnd(),
    );
    for (const c of doc.clients) {
      if (c.message) out.push(style.red(`  ${c.client}: ${c.message.replace(new RegExp(`^${c.client}: `), '')}`));
      for (const [server, dbs] of Object.entries(c.detail)) {
        for (const d of dbs) if (d.state === 'failed') out.push(style.red(`  ${c.client} / ${server}: ${d.dir}: ${d.detail ?? 'failed'}`));
      }
    }
    out.push('');
  }
  const s = doc.summary;
  const parts = [
    `${s.changed.length} changed`,
    `${s.unchanged.length} unchanged`,
    ...(['failed', 'unreachable', 'timeout', 'hostkey', 'auth'] as const).filter((k) => s[k].length).map((k) => `${s[k].length} ${CATEGORY_LABEL[k]} (${s[k].join(', ')})`),
    ...(s.skippedServers.length ? [`${s.skippedServers.length} server(s) skipped (${s.skippedServers.join(', ')})`] : []),
  ];
  out.push(`Summary: ${parts.join(', ')}`);
  if (doc.noChange && doc.exitCode === 0) out.push('No change: every client already had the requested trust.');
  return out.join('\n') + '\n';
}
