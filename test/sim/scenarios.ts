// Named simulation scenarios (STYLE items 7 and 11): each is named after the failure it guards
// against and opens with what would go wrong. Faults are scripted (no random faults) and name
// nodes by role ('@primary', '@replica'…), so a scenario does not depend on who won the bootstrap.
// Several reproduce a bug the simulation found (first with a random seed) and stay as regression
// tests of its fix.
import type { Fault, ScheduledFault } from './faults.js';
import type { SimConfig } from './world.js';

export interface Scenario {
  readonly name: string;
  /** What went wrong (or would), and what the scenario checks. */
  readonly guards: string;
  readonly config: SimConfig;
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
    name: 'in synchronous mode the leader named in `sync` can take over again',
    guards: `Found by the simulation (first seed 10; fixed in eligibility.ts). The primary loses its
      replicas for longer than wal_sender_timeout, so (rule 5) it removes its standby from
      \`sync\` and acknowledges commits alone: \`sync\` = {leader: P, standbys: []}. Then P loses
      etcd and its key expires. When isEligible() accepted only listed standbys, no member was
      eligible — not even P, the only one holding every acknowledged commit — and the cluster
      stayed without a primary after every fault was repaired. The leader named in \`sync\` must
      be able to lead again (Patroni: SyncState.matches(name, check_leader=True)).`,
    config: scripted(106, 50, [
      at(20_000, { kind: 'partition-peers', node: '@primary', ms: 16_000 }),
      at(33_000, { kind: 'partition-etcd', node: '@primary', ms: 20_000 }),
    ], { synchronousMode: true }),
  },
  {
    name: 'a replica diverged on a timeline with the leader\'s number is rebuilt',
    guards: `(Found by a random seed; was KNOWN CORE BUG diverged-timeline-not-behind.) The primary
      dies. Replica A wins the race and, the moment it starts promoting, loses etcd, so it cannot
      publish \`status\`/\`history\` for its timeline 2; replica C (nofailover) follows it onto
      that timeline 2. A fences, its key expires. Replica B, cut off from A and C and still on
      timeline 1, is judged eligible against the stale status (timeline 1) and promotes to ITS
      timeline 2 (real PostgreSQL picks the same number: it never saw A's history file). C cannot
      stream from B: B refuses C's WAL as diverged. follower.diverged rewound only a replica on a
      LOWER timeline than the leader's, so C never recovered. pg_rewind cannot help either: with
      equal timeline IDs it answers "no rewind required" (the simulated pg_rewind does the same).
      Fixed in rules.ts: a replica not streaming past the grace period is rewound on ANY timeline
      mismatch (follower.diverged), and rebuilt when the leader refuses its WAL as diverged on a
      timeline with the same number (follower.diverged-same-timeline; the real adapter reads the
      refusal from the server log).`,
    config: scripted(1, 50, [at(20_000, { kind: 'kill-node', node: '@primary', downMs: 45_000 })], {
      nodes: 4,
      tags: {
        n1: { nofailover: false, failoverPriority: 1 }, n2: { nofailover: false, failoverPriority: 1 },
        n3: { nofailover: false, failoverPriority: 1 }, n4: { nofailover: true, failoverPriority: 1 },
      },
      triggers: [
        { on: 'promote-start', after: 20_000, fault: { kind: 'partition-etcd', node: '@promoting', ms: 20_000 } },
        { on: 'promote-start', after: 20_000, fault: { kind: 'partition-peers', node: '@bystander', ms: 40_000 } },
      ],
    }),
  },
  {
    name: 'a promotion reached after the lease deadline is not carried out',
    guards: `(Found by a random seed; was KNOWN RUNTIME BUG writable-after-deadline.) The primary
      dies. A replica races and sends its \`acquire leader\` transaction; etcd grants it, but the
      agent is paused (SIGSTOP, 8 s) before the answer arrives. Its lease expires, the other
      replica takes over and promotes. Resumed, the agent read "won" and promoted anyway, and its
      renewal, finding the old lease gone, granted a new one and moved the fence deadline forward
      although the key went with the old lease: two writable primaries. Fixed in actions.ts and
      lease-keeper.ts: promote and start_primary check the lease deadline right before making
      PostgreSQL writable (and arm the fence first), a renewal that grants a new lease while
      primary fences at once, and \`status\` is written only within the deadline. The resumed
      agent must not promote.`,
    config: scripted(107, 40, [at(20_000, { kind: 'kill-node', node: '@primary', downMs: 30_000 })], {
      triggers: [{ on: 'request-sent', op: 'acquire leader', after: 20_000, fault: { kind: 'freeze-agent', node: '@requesting', ms: 8000 } }],
    }),
  },
  {
    name: 'a race decided on a stale view loses no acknowledged commit in synchronous mode (seed 1459)',
    guards: `(First found by a random seed.) Synchronous mode; n3 is nofailover. The primary P
      dies. The sync standby R decides to race and is paused (SIGSTOP) before it acts, and cut off
      from P. P comes back (it is named in \`sync\`), wins and promotes; R does not stream, so P
      acknowledges commits with n3 as its only synchronous standby — or alone. P dies again: n3
      may not take over. R resumes and carries on with its 20-second-old race: the key is free.
      It used to win, and (claimSyncBeforePromote's compare-and-swap failing, the key kept) a
      later leader.promote claimed \`sync\` against its fresh value and promoted R although R was
      not named in \`sync\` and lacked P's acknowledged commits: they were LOST. First fixed in
      synchronous mode only (rule leader.promote-not-in-sync releases a key held while \`sync\`
      does not name us, and claimSyncBeforePromote releases the key instead of keeping it; both
      stay as a second line, see test/unit/runtime/race.test.ts). Now the race's key transaction
      compares \`status\`/\`history\` with the revision R decided on (P's promotion modified both),
      so R loses the race outright and decides again on a fresh view.`,
    config: scripted(110, 45, [
      at(20_000, { kind: 'kill-node', node: '@primary', downMs: 6000 }),
      at(36_000, { kind: 'kill-node', node: '@primary', downMs: 30_000 }),
    ], {
      synchronousMode: true,
      tags: { n1: { nofailover: false, failoverPriority: 1 }, n2: { nofailover: false, failoverPriority: 1 }, n3: { nofailover: true, failoverPriority: 1 } },
      triggers: [
        { on: 'decided', rule: 'leaderless.race', after: 20_000, fault: { kind: 'freeze-agent', node: '@deciding', ms: 22_000 } },
        { on: 'decided', rule: 'leaderless.race', after: 20_000, fault: { kind: 'partition-pair', a: '@deciding', b: '@last-primary', ms: 30_000 } },
      ],
    }),
  },
  {
    name: 'a race decided on a view that changed before the key was taken is lost (was: KNOWN RUNTIME BUG stale-race-view)',
    guards: `(Reported by the simulation as a known bug; fixed in etcd-dcs.ts and actions.ts.) The
      primary dies. Replica A (n3, which decides first; its higher failover_priority keeps it from
      standing down for B's answer) decides to race on the cluster view of etcd revision R and is
      paused (SIGSTOP) before it acts. Replica B wins meanwhile, promotes to timeline 2 and publishes
      \`status\` and \`history\`; clients write through it; then B dies too and its key expires.
      A resumes and carries on with its race: the key is free again. It used to take it and
      promote on timeline 1, behind the cluster's timeline (rule 4), losing everything B wrote.
      Now the race takes the key only if \`status\` and \`history\` were not modified after R (in
      the same etcd transaction): A loses, decides again on a fresh view and stays a replica
      (leaderless.ineligible: not on the cluster's timeline).`,
    config: scripted(114, 45, [
      at(20_000, { kind: 'kill-node', node: '@primary', downMs: 40_000 }),
      at(30_000, { kind: 'kill-node', node: '@primary', downMs: 30_000 }),
    ], {
      tags: { n1: { nofailover: false, failoverPriority: 1 }, n2: { nofailover: false, failoverPriority: 1 }, n3: { nofailover: false, failoverPriority: 2 } },
      triggers: [{ on: 'decided', rule: 'leaderless.race', after: 20_000, fault: { kind: 'freeze-agent', node: '@deciding', ms: 14_000 } }],
    }),
  },
  {
    name: 'a bootstrap whose completion reached etcd keeps its data directory',
    guards: `(Found by a random seed; was KNOWN RUNTIME BUG bootstrap-wipes-committed-cluster.) The
      bootstrap winner's \`complete initialize\` reaches etcd, but the link slows down and its
      answer arrives after retry_timeout. initializeCluster's catch path used to stop PostgreSQL,
      release the key and REMOVE THE DATA DIRECTORY: etcd said "initialized", no member had data,
      every agent waited on clone.no-leader forever. Fixed in actions.ts: on failure it re-reads
      \`initialize\` and removes nothing when that holds our system identifier, nor when the
      re-read fails too (as here: the link is still slow); the next cycles read it again.`,
    config: scripted(108, 20, [], {
      triggers: [{ on: 'request-sent', op: 'complete initialize', after: 0, fault: { kind: 'slow-link', a: '@requesting', b: 'etcd', extraMs: 1500, ms: 4000 } }],
    }),
  },
  {
    name: 'a bootstrap claim whose answer is lost is resumed by its maker',
    guards: `(Found by a random seed; was KNOWN RUNTIME BUG bootstrap-claim-lost.) The first agent's
      \`claim initialize\` (create \`initialize\` = "") reaches etcd but its answer comes back
      after retry_timeout: the claimant's cycle fails. The claim had no owner and no lease, so
      from then on every member, the claimant included, saw "another member is bootstrapping" and
      waited forever. Fixed in etcd-dcs.ts and rules.ts: the claim is bound to the claimant's
      lease (it expires if the claimant dies) and the claimant recognises it by that lease
      (bootstrap.resume-own-claim) and bootstraps.`,
    config: scripted(109, 20, [], {
      triggers: [{ on: 'request-sent', op: 'claim initialize', after: 0, fault: { kind: 'slow-link', a: '@requesting', b: 'etcd', extraMs: 1500, ms: 4000 } }],
    }),
  },
  {
    name: 'a handover interrupted past the lease deadline never restarts the old primary',
    guards: `Found by the simulator once it ran the shipped runtime (seeds 1126, 1161, …): the primary
      stops cleanly for a switchover, then its agent is frozen past its lease. Its key expires and
      a replica takes over. When the agent resumes, its handover either sees no confirmation or a
      late one: it used to restart PostgreSQL as primary (the lease keeper had meanwhile granted a
      new lease whose deadline looked valid) — two writable primaries. It must check that the key
      is still its own within its lease, as every start of a primary does, and otherwise leave
      PostgreSQL stopped for the HA loop to rejoin as a replica.`,
    config: scripted(105, 30, [at(20_000, { kind: 'switchover', candidate: null })], {
      triggers: [{ on: 'primary-stopped', after: 20_000, fault: { kind: 'freeze-agent', node: '@stopped', ms: 5000 } }],
    }),
  },
  {
    name: 'a switchover candidate does not back off for its old primary\'s stale status',
    guards: `Issue 11, item 18: the old leader released the key while its REST API still reported a
      running primary; the candidate, woken by the release, asked its peers within milliseconds,
      backed off ("primary … is still alive") and took over only on its next loop (a 1.6 s
      switchover instead of ~0.8 s). The old leader publishes its stopped state before releasing.`,
    config: scripted(106, 30, [at(20_000, { kind: 'switchover', candidate: null })]),
  },
];
