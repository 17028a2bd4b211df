// The decision table: ordered rules, first match wins. Each row names the situation in words
// (rendered into docs/decision-table.md and kept as a snapshot so a rule change shows as a diff),
// the action it takes and the one-line reason it gives. The rows live in rules/, by subject; the
// order here is the order of the table.
import type { Rule } from './rules/rule.js';
import { DCS_RULES } from './rules/dcs.js';
import { BOOTSTRAP_RULES } from './rules/bootstrap.js';
import { OWN_KEY_RULES, LEADER_RULES } from './rules/leader.js';
import { OPERATOR_RULES } from './rules/operator.js';
import { FOLLOWER_RULES, LEADERLESS_RULES } from './rules/follower.js';

export const RULES: readonly Rule[] = [
  ...DCS_RULES,
  ...BOOTSTRAP_RULES,
  ...OWN_KEY_RULES,
  ...OPERATOR_RULES,
  ...LEADER_RULES,
  ...FOLLOWER_RULES,
  ...LEADERLESS_RULES,
];
