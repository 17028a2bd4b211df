// A plain text table of members (name, role, state, timeline, lag), shared by the demo and ctl.
export interface MemberRow {
  readonly name: string;
  readonly role: string;
  readonly state: string;
  readonly timeline: number | null;
  /** Bytes behind the leader's published position; null for the primary or when unknown. */
  readonly lagBytes: number | null;
  readonly extra?: Readonly<Record<string, string>>;
}

function fmtLag(bytes: number | null): string {
  if (bytes === null) return '';
  return (bytes / 1048576).toFixed(bytes < 1048576 ? 3 : 1);
}

export function renderMemberTable(rows: readonly MemberRow[]): string {
  const extraCols = [...new Set(rows.flatMap((r) => Object.keys(r.extra ?? {})))];
  const header = ['Member', 'Role', 'State', 'TL', 'Lag (MB)', ...extraCols];
  const body = rows.map((r) => [
    r.name, r.role, r.state, r.timeline === null ? '' : String(r.timeline), fmtLag(r.lagBytes),
    ...extraCols.map((c) => r.extra?.[c] ?? ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const sep = `+-${widths.map((w) => '-'.repeat(w)).join('-+-')}-+`;
  return [sep, line(header), sep, ...body.map(line), sep].join('\n');
}
