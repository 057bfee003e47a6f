/** Plain aligned text tables (no box drawing: the output stays grep- and awk-friendly). */
export function renderTable(header: string[], rows: string[][], colour?: (row: number, col: number, text: string) => string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[], r: number) =>
    cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? c : c.padEnd(widths[i]!);
        return colour && r >= 0 ? colour(r, i, padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [line(header, -1), ...rows.map((r, i) => line(r, i))].join('\n') + '\n';
}
