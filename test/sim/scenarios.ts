// Named simulation scenarios (STYLE items 7 and 11): each is named after the failure it guards
// against and opens with what would go wrong. Faults are scripted (no random faults) and name
// nodes by role ('@primary', '@replica'…), so a scenario does not depend on who won the bootstrap.
// The scenarios marked KNOWN reproduce a bug the simulation found and that is reported, not fixed
// here (agent/core and agent/runtime belong to others); their tests are `it.fails` until fixed.
import type { Fault, ScheduledFault } from './faults.js';
import type { SimConfig } from './world.js';
import { KNOWN_BOOTSTRAP_WIPE, KNOWN_DIVERGED, KNOWN_LATE_START, KNOWN_SYNC_LEADER } from './world.js';

export interface Scenario {
  readonly name: string;
  /** What went wrong (or would), and what the scenario checks. */
  readonly guards: string;
  readonly config: SimConfig;
  /** For KNOWN scenarios: the known issue it reproduces today. */
  readonly knownIssue?: string;
}

const at = (ms: number, fault: Fault): ScheduledFault => ({ at: ms, fault });

/** A quiet 3-node cluster with default timings and only the scripted faults. */
function scripted(seed: number, faultSeconds: number, script: ScheduledFault[], extra: Partial<SimConfig> = {}): SimConfig {
  return {
    seed,
    faultSeconds,
    livenessSeconds: 60,
    nodes: 3,
    synchronousMode: false,
    randomFaults: false,
    settings: { ttlMs: 3000, loopWaitMs: 1000, retryTimeoutMs: 1000, usePgRewind: true, primaryStartTimeoutMs: 10_000 },
    tags: { n1: { nofailover: false, failoverPriority: 1 }, n2: { nofailover: false, failoverPriority: 1 }, n3: { nofailover: false, failoverPriority: 1 } },
    script,
    traceAll: true,
    ...extra,
  };
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'old primary frozen past ttl must not be routed to',
    guards: `The primary's agent is SIGSTOPped for 10 s (ttl 3 s) while its PostgreSQL keeps running.
      A replica must take over; HAProxy must stop routing to the frozen node (its /primary check
      times out) before the new primary promotes, must never open a session to it again, and
      after SIGCONT the old agent must fence at once. Both PostgreSQLs run as primaries for a while:
      without a watchdog this window is inherent (counted, see docs/simulation.md).`,
    config: scripted(101, 40, [at(20_000, { kind: 'freeze-agent', node: '@primary', ms: 10_000 })]),
  },
  {
    name: 'replica lagging beyond maximum_lag_on_failover is never promoted',
    guards: `A replica's WAL replay is paused while writes go on, so its replay lag passes
      maximum_lag_on_failover (256 KiB). Then the primary and the other (healthy) replica die.
      The lagging replica is the only one left: it must NOT promote (it would serve stale data
      and lose every write it has not replayed), however long the outage lasts.`,
    config: scripted(102, 60, [
      at(14_000, { kind: 'replay-pause', node: '@replica', ms: 60_000 }),
      at(32_000, { kind: 'kill-node', node: '@primary', downMs: 40_000 }),
      at(32_000, { kind: 'kill-node', node: '@replica2', downMs: 40_000 }),
    ]),
  },
  {
    name: 'primary partitioned from etcd fences itself before a replica promotes',
    guards: `The primary loses etcd but not its clients. It must stop accepting writes at its own
      lease deadline (last renewal sent + ttl − margin), before etcd expires its key and a
      replica promotes: otherwise both accept writes.`,
    config: scripted(103, 40, [at(20_000, { kind: 'partition-etcd', node: '@primary', ms: 10_000 })]),
  },
  {
    name: 'synchronous mode keeps every acknowledged commit across a primary crash',
    guards: `In synchronous mode a commit is acknowledged only once the standby named in \`sync\`
      has it; when the primary's machine dies only that standby may take over, so no
      acknowledged commit may be missing on the new primary.`,
    config: scripted(104, 45, [at(25_000, { kind: 'kill-node', node: '@primary', downMs: 15_000 })], { synchronousMode: true }),
  },
  {
    name: 'etcd outage longer than ttl demotes the primary and the cluster recovers',
    guards: `etcd loses quorum for 8 s. Nobody can renew: the primary must fence at its deadline
      (it cannot know whether another node took over). When etcd returns (every lease gets a
      fresh ttl) the cluster must find a primary again and every replica must stream from it.`,
    config: scripted(105, 40, [at(20_000, { kind: 'etcd-outage', ms: 8000 })]),
  },
  {
    name: 'KNOWN CORE BUG: in synchronous mode the leader named in `sync` can never take over again',
    guards: `The primary loses its replicas for longer than wal_sender_timeout, so (rule 5) it
      removes its standby from \`sync\` and acknowledges commits alone: \`sync\` = {leader: P,
      standbys: []}. Then P loses etcd and its key expires. isEligible() accepts only listed
      standbys, never sync.leader, so no member is eligible — not even P, the only one holding
      every acknowledged commit — and the cluster stays without a primary after every fault is
      repaired. Patroni lets the leader named in \`sync\` take over. Fix in eligibility.ts (and the
      race's peer check): treat sync.leader as listed.`,
    knownIssue: KNOWN_SYNC_LEADER,
    config: scripted(106, 50, [
      at(20_000, { kind: 'partition-peers', node: '@primary', ms: 16_000 }),
      at(33_000, { kind: 'partition-etcd', node: '@primary', ms: 20_000 }),
    ], { synchronousMode: true }),
  },
  {
    name: 'KNOWN CORE BUG: replicas diverged on a timeline equal to the leader\'s are never rewound',
    guards: `Found by seed 256. A replica promotes to timeline 2 but etcd goes down before it can
      publish \`status\`/\`history\`; it fences. Another replica, cut off from it and still on
      timeline 1, is judged eligible against the stale status (timeline 1) and promotes to ITS
      timeline 2. Replicas that had followed the first timeline 2 cannot stream (diverged), but
      follower.diverged only rewinds a replica on a LOWER timeline than the leader: they never
      recover. Fix in rules.ts: rewind on any timeline mismatch after the grace period (pg_rewind
      decides whether anything diverged).`,
    knownIssue: KNOWN_DIVERGED,
    config: { seed: 256, faultSeconds: 90, livenessSeconds: 60, traceAll: true },
  },
  {
    name: 'KNOWN RUNTIME BUG: a bootstrap whose completion reached etcd is wiped as failed',
    guards: `Found by seed 643. \`complete initialize\` reaches etcd but its answer arrives after
      retry_timeout; initializeCluster's catch path stops PostgreSQL, releases the key,
      abandonInitialize does nothing (the key holds the system id now) and the data directory is
      REMOVED. etcd says "initialized", no member has data, every agent waits on clone.no-leader
      forever. Fix in actions.ts: on failure re-read \`initialize\`; never remove data once it holds
      our system identifier.`,
    knownIssue: KNOWN_BOOTSTRAP_WIPE,
    config: { seed: 643, faultSeconds: 90, livenessSeconds: 60, traceAll: true },
  },
  {
    name: 'KNOWN RUNTIME BUG: start_primary that completes after the lease deadline accepts writes past it',
    guards: `Found by seed 126. leader.restart-in-place is decided with a valid lease; publishing
      the member key before the long action and the PostgreSQL start take longer than the time
      left; PostgreSQL becomes a writable primary after the deadline and the fence timer (disarmed
      by the earlier fence) is only re-armed after the follow-up probe. Rule 2 says writes stop
      before the deadline. Fix in actions.ts/ha-loop.ts: arm the fence (or check the deadline)
      before start_primary/promote make PostgreSQL writable.`,
    knownIssue: KNOWN_LATE_START,
    config: { seed: 126, faultSeconds: 90, livenessSeconds: 60, traceAll: true },
  },
];

