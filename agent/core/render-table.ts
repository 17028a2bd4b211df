// Renders the ordered decision table as Markdown for docs/decision-table.md.
import { RULES } from './rules.js';

export function renderDecisionTable(): string {
  const lines = [
    '# Decision table',
    '',
    'Generated from `agent/core/rules.ts` (a unit test keeps this file in step). Every HA cycle the',
    'agent evaluates these rules top to bottom and acts on the first that applies; the `rule` id and',
    'the reason are logged and shown in `/status` as `last_decision`.',
    '',
    '| # | rule | situation | action |',
    '|---|---|---|---|',
    ...RULES.map((r, i) => `| ${i + 1} | \`${r.id}\` | ${r.when} | \`${r.action}\` |`),
    '',
  ];
  return lines.join('\n');
}
