// Planned switchover and manual failover: who the target is and whether it qualifies. Pure.
import { isEligible, memberAsCandidate } from './eligibility.js';
import type { ClusterView, FailoverRequest, HaSettings, MemberRecord } from './types.js';

export type Target = { readonly ok: true; readonly name: string } | { readonly ok: false; readonly why: string };

/** The `failover` key asks this leader to hand over (it names us as leader, or no leader at all). */
export function asksMeToHandOver(f: FailoverRequest | null, me: string): boolean {
  return f !== null && (f.leader === undefined || f.leader === me) && f.candidate !== me;
}

/** A scheduled switchover whose time has not come yet. */
export function notYetDue(f: FailoverRequest, wallNow: number): boolean {
  if (!f.scheduledAt) return false;
  const at = Date.parse(f.scheduledAt);
  return Number.isFinite(at) && at > wallNow;
}

function position(m: MemberRecord): number {
  return Math.max(m.receivedLsn ?? -1, m.replayedLsn ?? -1);
}

/**
 * The replica a planned switchover should go to: the named candidate if it qualifies, else the
 * most caught-up eligible replica (then higher failover_priority, then name).
 */
export function switchoverTarget(cluster: ClusterView, me: string, settings: HaSettings): Target {
  const f = cluster.failover;
  const others = cluster.members.filter((m) => m.name !== me);
  if (f?.candidate) {
    const m = others.find((x) => x.name === f.candidate);
    if (!m) return { ok: false, why: `candidate ${f.candidate} is not a member` };
    const v = isEligible(memberAsCandidate(m), cluster, settings);
    return v.ok ? { ok: true, name: m.name } : { ok: false, why: `candidate ${m.name} does not qualify: ${v.why}` };
  }
  const verdicts = others.map((m) => ({ m, v: isEligible(memberAsCandidate(m), cluster, settings) }));
  const eligible = verdicts.filter((x) => x.v.ok).map((x) => x.m);
  if (eligible.length === 0) {
    const why = verdicts.map((x) => `${x.m.name}: ${x.v.ok ? 'ok' : x.v.why}`).join('; ');
    return { ok: false, why: `no replica qualifies${why ? ` (${why})` : ''}` };
  }
  eligible.sort((a, b) => position(b) - position(a) || b.tags.failoverPriority - a.tags.failoverPriority || a.name.localeCompare(b.name));
  return { ok: true, name: eligible[0]!.name };
}
