// The chaos report: a Markdown table for people, the full JSON for machines.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ChaosReport } from './runner.js';

const s = (ms: number | null) => (ms === null ? '—' : (ms / 1000).toFixed(2));

export function markdownTable(report: ChaosReport): string {
  const head = [
    `| scenario | rep | ok | RTO s | acked | lost (${report.mode}) | split-brain windows (ms) | expected overlap (ms) | stale acks | convergence s | notes |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const rows = report.results.map((r) => {
    const sb = r.splitBrain.unexpected.length === 0 ? '0' : r.splitBrain.unexpected.map((w) => `${w.ms} (${w.nodes.join('+')})`).join(', ');
    const exp = r.splitBrain.expected.length === 0 ? '—' : r.splitBrain.expected.map((w) => `${w.ms}`).join(', ');
    const stale = `${r.staleAcks.unexpected}${r.staleAcks.expected > 0 ? ` (+${r.staleAcks.expected} expected)` : ''}`;
    const notes = [...r.notes, ...r.failures.map((f) => `**${f}**`)].join('; ').replace(/\|/g, '\\|');
    return `| ${r.scenario} | ${r.rep} | ${r.ok ? 'yes' : '**NO**'} | ${s(r.rtoMs)} | ${r.writes.acked} | ${r.writes.lost.length} | ${sb} | ${exp} | ${stale} | ${s(r.convergenceMs)} | ${notes} |`;
  });
  return [...head, ...rows].join('\n');
}

export function writeJsonReport(file: string, report: ChaosReport): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
