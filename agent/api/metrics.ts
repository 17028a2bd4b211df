// Prometheus metrics (SPEC §1.2 GET /metrics; names follow Patroni's, with the pgwarden_ prefix).
//
// One Registry per agent (never prom-client's global one), with constant labels `scope` and
// `name`. Two kinds of metric:
// - gauges describing the node are computed at scrape time from the HA loop's last snapshot
//   (collect() callbacks), so they can never drift from what the health checks answer;
// - counters and histograms are fed by the runtime through the small LoopMetrics surface
//   (observeCycle, countDecision, observeLeader) and by the etcd adapter (observeEtcd).
// docs/monitoring.md lists every metric; keep it in step.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from '../clock.js';
import type { NodeState } from '../runtime/node-state.js';
import type { LoopMetrics } from '../ports/ports.js';
import { holdsLeaderKey, runsAsPrimary } from './health.js';
import { buildClusterDoc } from './status-doc.js';

export const METRIC_PREFIX = 'pgwarden_';

export interface AgentMetricsOptions {
  readonly scope: string;
  readonly name: string;
  /** The HA loop's latest snapshot (read at every scrape). */
  readonly state: () => NodeState;
  readonly clock: Clock;
  /** prom-client's default process metrics (CPU, memory, event loop lag, GC), prefixed. Default true. */
  readonly processMetrics?: boolean;
}

/** HA cycles take milliseconds when idle, up to seconds while promoting or rewinding. */
const CYCLE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** One etcd operation (retries included) is bounded by retry_timeout (1 s by default). */
const ETCD_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const bit = (b: boolean): number => (b ? 1 : 0);

/**
 * Replication lag in bytes per member, as this node sees it: on the leader (the cluster view names
 * it) every replica's lag from the view (the same numbers as GET /cluster); on a replica its own,
 * from its live replayed position. Both measure against the leader's published optime; without
 * one there is nothing to measure and the result is empty.
 */
export function replicationLag(state: NodeState): Map<string, number> {
  const out = new Map<string, number>();
  const cluster = state.cluster;
  const optime = cluster?.status?.optime;
  if (!cluster || optime === undefined) return out;
  if (cluster.leader === state.name) {
    for (const m of buildClusterDoc(state)?.members ?? []) {
      if (m.role === 'replica' && typeof m.lag === 'number') out.set(m.name, m.lag);
    }
  } else if (state.pg.process === 'running' && state.pg.role === 'replica' && state.pg.replayedLsn !== null) {
    out.set(state.name, Math.max(0, optime - state.pg.replayedLsn));
  }
  return out;
}

export class AgentMetrics implements LoopMetrics {
  readonly registry = new Registry();
  readonly #leaderChanges: Counter;
  readonly #decisions: Counter<'action'>;
  readonly #cycle: Histogram;
  readonly #etcd: Histogram<'op'>;
  /** Last non-null leader name seen in a cluster view. */
  #lastLeader: string | null = null;

  constructor(o: AgentMetricsOptions) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ scope: o.scope, name: o.name });
    const state = o.state;

    const gauge = (name: string, help: string, value: (s: NodeState) => number): void => {
      new Gauge({
        name: METRIC_PREFIX + name, help, registers,
        collect() { this.set(value(state())); },
      });
    };
    gauge('primary', '1 while this node holds the leader key and PostgreSQL runs as primary (GET /primary answers 200), else 0.',
      (s) => bit(holdsLeaderKey(s, o.clock.now()) && runsAsPrimary(s)));
    gauge('replica', '1 while PostgreSQL runs as a replica, else 0.',
      (s) => bit(s.pg.process === 'running' && s.pg.role === 'replica'));
    gauge('leader', '1 while this node holds the leader key with its lease deadline not passed (GET /leader answers 200), else 0.',
      (s) => bit(holdsLeaderKey(s, o.clock.now())));
    gauge('postgres_running', '1 while PostgreSQL runs (any role), else 0.', (s) => bit(s.pg.process === 'running'));
    gauge('timeline', 'PostgreSQL timeline; 0 when unknown.', (s) => s.pg.timeline ?? 0);
    gauge('xlog_location_bytes', 'Primary: current WAL position (byte offset); 0 on a replica or when unknown.',
      (s) => (s.pg.role === 'primary' ? s.pg.walLsn ?? 0 : 0));
    gauge('xlog_received_location_bytes', 'Replica: last WAL position received (byte offset); 0 on a primary or when unknown.',
      (s) => (s.pg.role === 'replica' ? s.pg.receivedLsn ?? 0 : 0));
    gauge('xlog_replayed_location_bytes', 'Replica: last WAL position replayed (byte offset); 0 on a primary or when unknown.',
      (s) => (s.pg.role === 'replica' ? s.pg.replayedLsn ?? 0 : 0));
    gauge('pending_restart', '1 when a PostgreSQL parameter change waits for a restart, else 0.', (s) => bit(s.pendingRestart));
    gauge('credential_errors', 'Configured credentials (superuser, replication) the local PostgreSQL refused at the last check; 0 when all were accepted.',
      (s) => s.pg.credentialErrors?.length ?? 0);
    gauge('paused', '1 while the cluster is in maintenance mode (no automatic failover), else 0.', (s) => bit(s.cluster?.paused === true));
    gauge('dcs_last_seen_seconds', 'Unix time (seconds) of the last successful read from etcd; 0 before the first.',
      (s) => s.dcsLastSeen ?? 0);

    new Gauge<'member'>({
      name: `${METRIC_PREFIX}replication_lag_bytes`,
      help: 'Bytes a replica has replayed behind the leader\'s published position. On the leader: one series per replica; on a replica: its own.',
      labelNames: ['member'], registers,
      collect() {
        this.reset();
        for (const [member, lag] of replicationLag(state())) this.set({ member }, lag);
      },
    });

    this.#leaderChanges = new Counter({
      name: `${METRIC_PREFIX}leader_changes_total`,
      help: 'Times the leader named in the cluster view changed to another member, as seen by this agent.',
      registers,
    });
    this.#decisions = new Counter({
      name: `${METRIC_PREFIX}decisions_total`,
      help: 'HA loop decisions by action (none, renew_leader, promote, demote, follow…).',
      labelNames: ['action'], registers,
    });
    this.#cycle = new Histogram({
      name: `${METRIC_PREFIX}ha_loop_duration_seconds`,
      help: 'Duration of one HA loop cycle (observe, decide, act, publish).',
      buckets: CYCLE_BUCKETS, registers,
    });
    this.#etcd = new Histogram({
      name: `${METRIC_PREFIX}etcd_request_duration_seconds`,
      help: 'Duration of one etcd operation, retries included, by operation; failed operations count too.',
      labelNames: ['op'], buckets: ETCD_BUCKETS, registers,
    });
    if (o.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  /** Prometheus' text format for a scrape; see `contentType`. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  observeCycle(seconds: number): void {
    this.#cycle.observe(seconds);
  }

  countDecision(action: string): void {
    this.#decisions.inc({ action });
  }

  countLeaderChange(): void {
    this.#leaderChanges.inc();
  }

  /**
   * The leader named by a fresh cluster view. Counts a change when it names another member than
   * the last leader seen: a → b counts once, and so does a → (no leader) → b; a → (none) → a, a
   * leader that lost and re-took its key, does not. The first leader seen is not a change.
   */
  observeLeader(leader: string | null): void {
    if (leader === null) return;
    if (this.#lastLeader !== null && leader !== this.#lastLeader) this.countLeaderChange();
    this.#lastLeader = leader;
  }

  observeEtcd(op: string, seconds: number): void {
    this.#etcd.observe({ op }, seconds);
  }
}
