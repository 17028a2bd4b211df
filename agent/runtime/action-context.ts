// What an action may use while it carries out a decision (actions.ts, handover.ts,
// sync-manager.ts), what it reports while it runs (Progress), and what it leaves for the HA loop
// to fold into its state when it is done (ActionOutcome). The loop builds the context once.
import type { HaSettings, LeaderStatus, Lsn, PgState, PgView, RetryState } from '../core/types.js';
import type { DynamicConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import { withinLease } from '../core/lease.js';
import type { SyncPlan } from '../core/sync.js';
import type { Dcs, PostgresNode, PromotionHook } from '../ports/ports.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { RaceDeps } from './race-runner.js';

export interface ActionContext {
  readonly name: string;
  readonly dcs: Dcs;
  readonly pg: PostgresNode;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly lease: LeaseKeeper;
  readonly race: RaceDeps;
  /** postgresql.pre_promote, when configured. */
  readonly prePromote?: PromotionHook;
  readonly bootstrapConfig: DynamicConfig;
  readonly useSlots: () => boolean;
  /** The dynamic config in force. */
  readonly dynamic: () => DynamicConfig;
  readonly settings: () => HaSettings;
  readonly peerTimeoutMs: () => number;
  /** Tell the loop what changed while the action runs; it applies it at once (health answers follow). */
  progress(p: Progress): void;
  /**
   * The leader key is ours on our CURRENT lease, as far as we know (false again as soon as a
   * renewal had to grant a new lease: the key went with the old one).
   */
  holdsKey(): boolean;
  /** Last status we published, to write `status` only when it changed. */
  lastStatus(): LeaderStatus | null;
  /** Member name → monotonic ms it was last seen in a cluster view (slot retention). */
  readonly membersSeen: Map<string, number>;
  /** When synchronous_standby_names last changed, and the flush position since (sync-manager.ts). */
  readonly syncBarrier: SyncBarrier;
}

/** What an action reports while it runs; the loop applies each at once. */
export type Progress =
  /** Shown as the status `state` while a long action runs (null when done). */
  | { readonly kind: 'activity'; readonly state: PgState | null }
  /** A fresh probe to publish to the health answers now (right after a promotion). */
  | { readonly kind: 'pg'; readonly pg: PgView }
  /**
   * While false, this node does not claim the primary role in its health answers although it may
   * still hold the key (a planned handover has begun: HAProxy must stop routing here).
   */
  | { readonly kind: 'serving'; readonly serving: boolean }
  /** We took (or gave back) the leader key on our lease, before the next read shows it. */
  | { readonly kind: 'holds-key'; readonly held: boolean };

/** What an action leaves behind for the loop's state (absent fields: unchanged). */
export interface ActionOutcome {
  readonly rewindFailed?: boolean;
  /** A transient pg_rewind failure to retry after a delay (null: none pending). */
  readonly rewindRetry?: RetryState | null;
  /** A failed start of PostgreSQL to retry after a delay (null: none pending). */
  readonly startRetry?: RetryState | null;
  /** A planned handover released the key cleanly (until PostgreSQL runs again). */
  readonly cleanHandover?: boolean;
  /** The synchronous replication outcome of a leader cycle. */
  readonly sync?: SyncOutcome;
  /** The `status` this leader has just published. */
  readonly lastStatus?: LeaderStatus;
  /** Decide again at once instead of after loop_wait (what we acted on has changed): why. */
  readonly wakeUp?: string;
}

/** Nothing to fold. */
export const NO_OUTCOME: ActionOutcome = Object.freeze({});

/**
 * When synchronous_standby_names last changed (monotonic ms; null: before this agent set it)
 * and the primary's flushed position measured once the change was surely in force (null: not
 * yet). pg_reload_conf() returns before PostgreSQL applies the file, so the position is taken
 * at least SETTLE_MS later, as Patroni does: every commit acknowledged asynchronously before
 * the new setting took effect ends at or before it.
 */
export interface SyncBarrier {
  changedAt: number | null;
  lsn: Lsn | null;
}

/** A barrier for an agent that has not changed synchronous_standby_names yet. */
export function newSyncBarrier(): SyncBarrier {
  return { changedAt: null, lsn: null };
}


export interface SyncOutcome {
  readonly plan: SyncPlan;
  /** Standbys in `sync` after this cycle. */
  readonly published: readonly string[];
}

/**
 * Rule 2 at the moment of acting (promote, start as primary, publish as leader): the leader key
 * is ours on our current lease AND that lease's deadline has not passed. A valid deadline alone is
 * not enough: a renewal that had to grant a new lease has one, but the key went with the old.
 */
export function mayServeAsPrimary(ctx: Pick<ActionContext, 'holdsKey' | 'lease' | 'clock'>): boolean {
  return ctx.holdsKey() && withinLease(ctx.lease.deadline, ctx.clock.now()) && ctx.lease.guardReady;
}

/** Show `state` as the status `state` while `work` runs. */
export async function withActivity(ctx: ActionContext, state: PgState, work: () => Promise<void>): Promise<void> {
  ctx.progress({ kind: 'activity', state });
  try {
    await work();
  } finally {
    ctx.progress({ kind: 'activity', state: null });
  }
}
