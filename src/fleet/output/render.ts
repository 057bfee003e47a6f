/** Text renderings of the command documents (the --json output is the documents themselves). */
import type { FleetActionDocument } from '../commands/action.js';
import type { FleetStatusDocument } from '../commands/status.js';
import { VERDICT_LABEL } from '../commands/status-merge.js';
import { CATEGORY_LABEL } from '../exit-codes.js';
import { foldNodeSet } from '../targets/nodeset.js';
import type { HostCategory } from '../transport/types.js';
import { foldOutputs } from './fold.js';
import type { Style } from './style.js';
import { renderTable } from './table.js';

const ORDER: HostCategory[] = ['ok', 'failed', 'unreachable', 'timeout', 'auth', 'hostkey'];

export function renderSummary(summary: Record<HostCategory, string[]>, style: Style): string {
  const total = ORDER.reduce((n, c) => n + summary[c].length, 0);
  const parts = ORDER.filter((c) => c === 'ok' || c === 'failed' || c === 'unreachable' || c === 'timeout' || summary[c].length).map((c) => {
    const names = summary[c];
    const text = `${names.length} ${CATEGORY_LABEL[c]}${names.length && c !== 'ok' ? ` (${foldNodeSet(names)})` : ''}`;
    return names.length === 0 ? text : c === 'ok' ? style.green(text) : style.red(text);
  });
  return `${total} host${total === 1 ? '' : 's'}: ${parts.join(', ')}\n`;
}

export function renderAction(doc: FleetActionDocument, style: Style): string {
  const blocks = foldOutputs(
    doc.hosts.map((h) => ({
      host: h.name,
      category: h.category,
      exitCode: h.exitCode,
      output: h.category === 'ok' || h.category === 'failed' ? (h.stdout + h.stderr).trimEnd() : (h.shortMessage ?? '').trimEnd(),
    })),
  );
  let out = '';
  for (const b of blocks) {
    const what = b.category === 'ok' ? 'ok' : b.category === 'failed' ? `exit code ${b.exitCode ?? 'none'}` : CATEGORY_LABEL[b.category];
    const head = `---------------- ${b.nodeset} (${b.hosts.length}) ${what} ----------------`;
    out += (b.category === 'ok' ? style.bold(head) : style.red(head)) + '\n';
    if (b.output) out += b.output + '\n';
  }
  return out + renderSummary(doc.summary, style);
}

export function renderStatus(doc: FleetStatusDocument, style: Style): string {
  const rows: string[][] = [];
  const kinds: string[] = [];
  for (const h of doc.hosts) {
    const reach = h.category === 'ok' ? '' : `${CATEGORY_LABEL[h.category]}: ${h.shortMessage ?? ''}`;
    if (h.servers.length === 0) {
      rows.push([h.name, h.category === 'ok' ? (h.agent ? 'no servers (agent advertised)' : 'no servers') : reach, '', '', '', '', '', '']);
      kinds.push(h.category === 'ok' ? 'none' : 'bad');
      continue;
    }
    for (const s of h.servers) {
      const state = VERDICT_LABEL[s.verdict] + (h.category === 'ok' ? '' : ` (${reach})`);
      rows.push([
        h.name,
        state,
        s.pid !== undefined ? String(s.pid) : '-',
        s.nickname ?? '-',
        s.port ? String(s.port) : '-',
        s.releases.join(',') || '-',
        s.arch ?? '-',
        s.certinfo ?? '-',
      ]);
      kinds.push(s.verdict === 'running-advertised' || s.verdict === 'advertised' ? 'good' : s.verdict === 'dead' || h.category !== 'ok' ? 'bad' : 'warn');
    }
  }
  const table = renderTable(['HOST', 'STATE', 'PID', 'NICKNAME', 'PORT', 'RELEASES', 'ARCH', 'CERTINFO'], rows, (r, c, text) =>
    c !== 1 ? text : kinds[r] === 'good' ? style.green(text) : kinds[r] === 'bad' ? style.red(text) : kinds[r] === 'warn' ? style.yellow(text) : text,
  );
  const s = doc.summary;
  const hostsLine = doc.mdnsOnly
    ? `${s.hosts} hosts seen via mDNS, ${s.servers} servers advertised (no SSH: --mdns-only)\n`
    : `${s.hosts} hosts: ${s.ok} ok, ${s.failed} failed, ${s.unreachable} unreachable, ${s.timeout} timed out` +
      (s.hostkey ? `, ${s.hostkey} host key refused` : '') +
      (s.auth ? `, ${s.auth} auth refused` : '') +
      `; ${s.servers} servers: ${s.running} running (${s.runningNotAdvertised} not advertised), ${s.dead} dead, ${s.advertisedNotRunning} advertised but not running\n`;
  return table + hostsLine;
}
