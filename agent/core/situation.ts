// Small named questions about a situation, shared by the rules. Pure.
import type { ClusterView, ControlState, HaSettings, LocalView, MemberRecord } from './types.js';
import { withinLease } from './lease.js';

export interface Situation {
  readonly cluster: ClusterView | null;
  readonly local: LocalView;
  readonly settings: HaSettings;
}

export function pgPrimary(s: Situation): boolean {
  return s.local.pg.process === 'running' && s.local.pg.role === 'primary';
}

export function pgReplica(s: Situation): boolean {
  return s.local.pg.process === 'running' && s.local.pg.role === 'replica';
}

export function pgDown(s: Situation): boolean {
  return s.local.pg.process === 'stopped' || s.local.pg.process === 'crashed';
}

export function leaseValid(s: Situation): boolean {
  return withinLease(s.local.leaseDeadline, s.local.now);
}

export function msLeft(s: Situation): number {
  return Math.max(0, Math.round((s.local.leaseDeadline ?? s.local.now) - s.local.now));
}

/** The leader key names us. */
export function keyNamesMe(s: Situation): boolean {
  return s.cluster?.leader === s.local.name;
}

/** We hold the leader key on our lease and our right to be primary has not run out (rules 1–2). */
export function iLead(s: Situation): boolean {
  return keyNamesMe(s) && s.local.holdsLeaderKey && leaseValid(s);
}

/** Another member's name is in the leader key. */
export function otherLeader(s: Situation): string | null {
  const leader = s.cluster?.leader ?? null;
  return leader !== null && leader !== s.local.name ? leader : null;
}

export function member(s: Situation, name: string | null): MemberRecord | undefined {
  return name === null ? undefined : s.cluster?.members.find((m) => m.name === name);
}

export function leaderRunning(s: Situation): boolean {
  return member(s, otherLeader(s))?.state === 'running';
}

const STANDBY_STATES: readonly ControlState[] = ['shut down in recovery', 'in archive recovery'];

/** The stopped data directory last ran as a primary (so it may hold WAL the leader lacks). */
export function lastRanAsPrimary(s: Situation): boolean {
  // A base backup (or a rewound directory) that never started: its control file may have been
  // copied from a running primary ("in production"), but recovery from its backup_label makes
  // it a standby. Treating it as a former primary looped rewind → rebuild (issue 11 item 10).
  if (s.local.pg.backupLabel === true) return false;
  return !STANDBY_STATES.includes(s.local.pg.controlState);
}

/** A failed start of PostgreSQL waits for its retry delay. */
export function startBackingOff(s: Situation): boolean {
  const r = s.local.startRetry;
  return r !== null && r !== undefined && s.local.now < r.retryAt;
}

/** A transient pg_rewind failure against the current leader waits for its retry delay. */
export function rewindBackingOff(s: Situation): boolean {
  const r = s.local.rewindRetry;
  const leader = otherLeader(s);
  return r !== null && r !== undefined && leader !== null && r.leader === leader && s.local.now < r.retryAt;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
