// The decision function: (cluster view, local view, settings) → one action and its reason.
// Pure: the caller supplies `now` in the local view; nothing here reads a clock or does I/O.
import type { ClusterView, Decision, HaSettings, LocalView } from './types.js';
import { RULES } from './rules.js';
import type { Situation } from './situation.js';

export function decide(cluster: ClusterView | null, local: LocalView, settings: HaSettings): Decision {
  const s: Situation = { cluster, local, settings };
  for (const rule of RULES) {
    if (!rule.applies(s)) continue;
    const action = rule.build ? rule.build(s) : ({ kind: rule.action } as Decision['action']);
    return { action, reason: rule.reason(s), rule: rule.id };
  }
  // RULES ends with a catch-all, so this is unreachable; keep the type checker honest.
  throw new Error('decision table has no catch-all rule');
}
