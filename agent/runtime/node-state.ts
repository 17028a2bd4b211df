// What the HA loop knows about this node, published after every cycle. The REST API answers
// health checks from this snapshot alone (never from a PostgreSQL query).
import type { ClusterView, PgState, PgView, Tags, Decision, HaSettings } from '../core/types.js';
import type { DynamicConfig } from '../config/types.js';
import type { ReplicationRow } from '../ports/ports.js';

export interface NodeState {
  readonly name: string;
  readonly scope: string;
  readonly version: string;
  readonly tags: Tags;
  readonly pg: PgView;
  /** The status document's `state` field. */
  readonly pgState: PgState;
  readonly serverVersion: number | null;
  readonly replication: readonly ReplicationRow[];
  /** Last cluster view read successfully from etcd (null before the first read). */
  readonly cluster: ClusterView | null;
  /** Wall-clock epoch seconds of the last successful etcd read (for display only). */
  readonly dcsLastSeen: number | null;
  /**
   * Monotonic ms of the last successful etcd read, null before the first. The API treats
   * `cluster` as a valid view only while this is within ttl of now (/readiness, /sync, /async).
   */
  readonly clusterReadAt: number | null;
  /** Wall-clock epoch ms at which the last successful lease renewal was sent (display, tests). */
  readonly leaseRenewedAt: number | null;
  /** Monotonic ms until which we may act as primary (rule 2), null when we do not hold the key. */
  readonly leaseDeadline: number | null;
  readonly lastDecision: (Decision & { readonly at: string }) | null;
  /** Monotonic ms at which the HA loop last completed a cycle. */
  readonly lastCycleAt: number | null;
  readonly settings: HaSettings;
  readonly pendingRestart: boolean;
  /** Synchronous replication as the primary last managed it ('off' elsewhere). */
  readonly syncState: 'off' | 'synchronous' | 'asynchronous' | 'waiting';
  /** Standbys this primary has published in `sync`. */
  readonly syncStandbys: readonly string[];
  /**
   * The dynamic config in force (etcd `config` from the last cluster view, or the last good or
   * bootstrap one while etcd holds none or a bad value); null before the first cluster view.
   */
  readonly dynamicConfig: DynamicConfig | null;
}

/** Holds the latest snapshot; the runtime writes, the API reads. */
export class NodeStateStore {
  #state: NodeState;
  constructor(initial: NodeState) {
    this.#state = initial;
  }
  get(): NodeState {
    return this.#state;
  }
  set(next: NodeState): void {
    this.#state = next;
  }
  update(patch: Partial<NodeState>): void {
    this.#state = { ...this.#state, ...patch };
  }
}

/** What the agent knows of its PostgreSQL before the first probe. */
export const UNKNOWN_PG: PgView = {
  dataDir: 'empty', process: 'stopped', role: null, systemId: null, timeline: null, walLsn: null,
  receivedLsn: null, replayedLsn: null, upstream: null, streaming: false, controlState: 'unknown', checkpointLsn: null,
};

/** The snapshot of an agent that has just started (nothing observed yet). */
export function initialNodeState(o: { name: string; scope: string; version: string; tags: Tags; settings: HaSettings }): NodeState {
  return {
    name: o.name, scope: o.scope, version: o.version, tags: o.tags, pg: UNKNOWN_PG,
    pgState: 'stopped', serverVersion: null, replication: [], cluster: null, dcsLastSeen: null, clusterReadAt: null,
    leaseRenewedAt: null, syncState: 'off', syncStandbys: [], leaseDeadline: null, lastDecision: null, lastCycleAt: null,
    settings: o.settings, pendingRestart: false, dynamicConfig: null,
  };
}
