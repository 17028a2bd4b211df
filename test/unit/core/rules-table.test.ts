// The decision table rendered as Markdown and kept as a file snapshot: any change to a rule's
// order, situation or action shows up as a diff in review (and in docs/decision-table.md).
import { expect, it } from 'vitest';
import { renderDecisionTable } from '../../../agent/core/render-table.js';

it('decision table matches the reviewed snapshot', async () => {
  await expect(renderDecisionTable()).toMatchFileSnapshot('../../../docs/decision-table.md');
});
