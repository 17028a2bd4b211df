// What an action may use and change while it carries out a decision (actions.ts, handover.ts,
// sync-manager.ts); the HA loop builds it once and folds what actions report into its state.
import type { ClusterView, HaSettings, Lsn, PgState, PgView } from '../core/types.js';
import type { DynamicConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import { withinLease } from '../core/lease.js';
import type { SyncPlan } from '../core/sync.js';
import type { Dcs, PostgresNode } from '../ports/ports.js';
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
  readonly bootstrapConfig: DynamicConfig;
  readonly useSlots: () => boolean;
  /** The dynamic config in force. */
  readonly dynamic: () => DynamicConfig;
  /** Called with the synchronous replication outcome of each leader cycle. */
  onSync(outcome: SyncOutcome): void;
  readonly settings: () => HaSettings;
  readonly peerTimeoutMs: () => number;
  /** Shown as the status `state` while a long action runs (null when done). */
  setActivity(state: PgState | null): void;
  setRewindFailed(failed: boolean): void;
  setCleanHandover(clean: boolean): void;
  /** We now hold the leader key on our lease (health answers may say so before the next read). */
  setHoldsKey(held: boolean): void;
  /**
   * The leader key is ours on our CURRENT lease, as far as we know (false again as soon as a
   * renewal had to grant a new lease: the key went with the old one).
   */
  holdsKey(): boolean;
  /**
   * While false, this node does not claim the primary role in its health answers although it
   * may still hold the key (a planned handover has begun: HAProxy must stop routing here).
   */
  setServing(serving: boolean): void;
  /** Publish a fresh probe to the health answers now (right after a promotion). */
  publishPg(pg: PgView): void;
  /** Run the next cycle at once instead of after loop_wait (what we acted on has changed). */
  wakeUp(why: string): void;
  /** Last status we published, to write `status` only when it changed. */
  lastStatus: { optime: number; timeline: number } | null;
  /** Member name → monotonic ms it was last seen in a cluster view (slot retention). */
  readonly membersSeen: Map<string, number>;
  /** When synchronous_standby_names last changed, and the flush position since (sync-manager.ts). */
  readonly syncBarrier: SyncBarrier;
}

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
