// One row of the decision table: the situation in words (for the docs), when it applies, the
// action it takes and the one-line reason it gives.
import type { Action, ActionKind } from '../types.js';
import type { Situation } from '../situation.js';

export interface Rule {
  readonly id: string;
  /** The situation, in words, for the docs. */
  readonly when: string;
  readonly action: ActionKind;
  readonly applies: (s: Situation) => boolean;
  readonly reason: (s: Situation) => string;
  /** Builds the action when it carries data; defaults to `{ kind: action }`. */
  readonly build?: (s: Situation) => Action;
}
