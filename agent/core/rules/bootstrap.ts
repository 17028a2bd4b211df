// Decision-table rows: bootstrap, re-initialization after etcd lost its data, `initialize` holding
// another system identifier, and cloning into an empty data directory.
import type { Rule } from './rule.js';
import { absentFor, dataEmpty, failover, initialize, leaderName, operatorChoseMe, othersWithData } from './helpers.js';
import { type Situation, iLead, keyNamesMe, leaderRunning, member, otherLeader, pgDown, pgPrimary, seconds } from '../situation.js';
import { neverPromote } from '../eligibility.js';
import { recoveryMinWaitMs, recoveryWaitMs, syncBarsRecovery } from '../bootstrap.js';

export const BOOTSTRAP_RULES: readonly Rule[] = [
  // --- bootstrap ------------------------------------------------------------------------------
  {
    // A member that may never be promoted must not become the first primary either (Patroni's
    // bootstrap() skips nofailover nodes too): otherwise a cluster could start with its only
    // primary on the node the operator excluded from leadership.
    id: 'bootstrap.never-promote',
    when: 'no `initialize` key; I may never be promoted (tagged nofailover, or failover_priority ≤ 0)',
    action: 'wait',
    applies: (s) => initialize(s).state === 'absent' && neverPromote(s.local.tags) !== null,
    reason: (s) => `cluster is not initialized, but I may never be primary (${neverPromote(s.local.tags)}): waiting for another member to bootstrap it`,
  },
  {
    // After etcd lost its data, a member with an empty data directory (a replica being rebuilt, a
    // new node) must not initdb a second cluster beside the members that hold the real one.
    id: 'bootstrap.others-have-data',
    when: 'no `initialize` key; my data directory is empty, but other members hold data (or members I saw recently are silent)',
    action: 'wait',
    applies: (s) => initialize(s).state === 'absent' && dataEmpty(s)
      && (othersWithData(s).length > 0 || (s.local.silentMembers?.length ?? 0) > 0),
    reason: (s) => `no \`initialize\` key, but ${othersWithData(s).length > 0 ? `${othersWithData(s).join(', ')} hold data` : `members I saw recently (${(s.local.silentMembers ?? []).join(', ')}) are silent`}: not bootstrapping a new cluster; one of them re-initializes it and I clone from its leader`,
  },
  {
    id: 'bootstrap.race',
    when: 'no `initialize` key; my data directory is empty',
    action: 'initialize_cluster',
    applies: (s) => initialize(s).state === 'absent' && dataEmpty(s),
    reason: () => 'cluster is not initialized; racing to bootstrap it',
  },

  // --- no `initialize` key but data (etcd lost its data): re-initialize from the best data -------
  {
    // Found by the chaos scenario etcd-data-loss: a primary whose key was deleted with the rest
    // (its lease survived) kept serving while it waited to re-initialize; another member that
    // raced on the same keys promoted meanwhile. Rule 1: no key, no writes.
    id: 'recover.primary-without-key',
    when: 'no `initialize` key; I run a primary but do not hold the leader key on my lease',
    action: 'fence',
    applies: (s) => initialize(s).state === 'absent' && pgPrimary(s) && !iLead(s),
    reason: () => 'no `initialize` key and the leader key is not mine: stop accepting writes; the cluster is re-initialized from the most advanced data (mine takes part)',
  },
  {
    id: 'recover.start-standby',
    when: 'no `initialize` key; my data directory holds a database and PostgreSQL is down',
    action: 'start_replica',
    applies: (s) => initialize(s).state === 'absent' && pgDown(s),
    reason: () => 'no `initialize` key (etcd lost its data?) but my data directory holds a database: starting it read-only as a standby so its position can be compared before anyone re-initializes the cluster',
    build: () => ({ kind: 'start_replica', leader: null }),
  },
  {
    id: 'recover.wait',
    when: 'no `initialize` key; I run PostgreSQL on existing data; for less than ttl + 2 × loop_wait, or members I saw recently are silent (at most the recovery wait)',
    action: 'wait',
    applies: (s) => initialize(s).state === 'absent' && !operatorChoseMe(s) && (absentFor(s) < recoveryMinWaitMs(s.settings)
      || ((s.local.silentMembers?.length ?? 0) > 0 && absentFor(s) < recoveryWaitMs(s.settings))),
    reason: (s) => (s.local.silentMembers?.length ?? 0) > 0
      ? `no \`initialize\` key; waiting up to ${seconds(recoveryWaitMs(s.settings))} for members I saw recently (${
        (s.local.silentMembers ?? []).join(', ')}) before re-initializing: the most advanced data may be theirs (${seconds(absentFor(s))} so far)`
      : `no \`initialize\` key; giving every member ${seconds(recoveryMinWaitMs(s.settings))} to publish its key before re-initializing (${seconds(absentFor(s))} so far)`,
  },
  {
    // Rule 5 across a lost etcd: only a member that can tell it holds every acknowledged commit
    // (the last `sync` it saw names it) may re-initialize a synchronous cluster on its own.
    id: 'recover.sync-unknown',
    when: 'no `initialize` key; synchronous mode, and the last `sync` I saw does not name me (or I never saw one); no operator named me',
    action: 'wait',
    applies: (s) => initialize(s).state === 'absent' && s.settings.synchronousMode && !operatorChoseMe(s) && syncBarsRecovery(s.local.name, s.local.lastKnownSync) !== null,
    reason: (s) => `no \`initialize\` key in synchronous mode and ${syncBarsRecovery(s.local.name, s.local.lastKnownSync)}: I cannot tell that I hold every acknowledged commit; waiting for a member that can, or for an operator (pgwarden ctl failover --candidate)`,
  },
  {
    // Like a failover: ask every reachable peer, stand down for any further ahead (or a live
    // primary); the winner claims `initialize` and takes the key. Never a node provably behind
    // another reachable one (issue 11, item 1).
    id: 'recover.race',
    when: 'no `initialize` key; I run PostgreSQL on existing data',
    action: 'initialize_cluster',
    applies: (s) => initialize(s).state === 'absent',
    reason: () => 'no `initialize` key but my data directory holds a database: racing to re-initialize the cluster from the most advanced data (asking peers first)',
  },
  {
    // The claim is bound to its maker's lease: it expires when its maker dies. But its maker must
    // recognise it too, or a claim whose answer was lost blocks bootstrap for as long as the
    // maker keeps its lease alive (the maker would wait for "another member" like everyone else).
    id: 'bootstrap.resume-own-claim',
    when: '`initialize` holds the bootstrap claim, bound to my lease: I made it',
    action: 'initialize_cluster',
    applies: (s) => initialize(s).state === 'bootstrapping' && s.local.holdsInitializeClaim,
    reason: (s) => `the bootstrap claim in \`initialize\` is mine (an earlier attempt did not finish): bootstrapping${
      dataEmpty(s) ? '' : ' from my existing data directory'}`,
  },
  {
    id: 'bootstrap.in-progress',
    when: '`initialize` holds the bootstrap claim of another member: it is bootstrapping',
    action: 'wait',
    applies: (s) => initialize(s).state === 'bootstrapping',
    reason: () => 'another member is bootstrapping the cluster',
  },
  {
    id: 'bootstrap.malformed',
    when: '`initialize` holds neither the claim nor a system identifier; my data directory is empty and nobody leads',
    action: 'wait',
    applies: (s) => initialize(s).state === 'malformed' && dataEmpty(s) && s.cluster!.leader === null,
    reason: () => '`initialize` holds a malformed value (see the log): not bootstrapping over it; waiting for a leader to clone from (fix or delete the key)',
  },
  {
    // Issue 11, item 7: a DCS value must not take a serving database down (every agent used to
    // exit, the primary's PostgreSQL with it). A leader keeps serving within its lease rules.
    id: 'foreign-initialize.leader',
    when: '`initialize` holds another system identifier than my running PostgreSQL, and I lead',
    action: 'renew_leader',
    applies: (s) => foreignInitialize(s) && iLead(s) && pgPrimary(s),
    reason: (s) => `${foreignWhy(s)}: refusing to act on it; I keep serving as the leader — fix the key (pgwarden ctl, etcdctl)`,
  },
  {
    id: 'foreign-initialize.running',
    when: '`initialize` holds another system identifier than my running PostgreSQL',
    action: 'wait',
    applies: (s) => foreignInitialize(s) && s.local.pg.process === 'running',
    reason: (s) => `${foreignWhy(s)}: refusing to act on it; PostgreSQL keeps running as it is — fix the key`,
  },
  {
    id: 'bootstrap.foreign-data',
    when: 'my data directory (PostgreSQL not running) has a different system identifier than `initialize`',
    action: 'refuse_start',
    applies: foreignInitialize,
    reason: (s) => `data directory belongs to another cluster (${foreignWhy(s)})`,
  },

  // --- empty data directory in an initialized cluster ----------------------------------------
  {
    // E.g. a bootstrap that gave the race back after its late `acquire leader` landed: nobody
    // could ever clone from us, and the lease keeper would keep the key alive for good.
    id: 'clone.release-own-key',
    when: 'my data directory is empty but the leader key names me',
    action: 'release_leader',
    applies: (s) => dataEmpty(s) && keyNamesMe(s),
    reason: () => 'the leader key names me but my data directory is empty: releasing it so a member with data can lead',
  },
  {
    id: 'clone.no-leader',
    when: 'my data directory is empty and no member holds the leader key',
    action: 'wait',
    applies: (s) => dataEmpty(s) && otherLeader(s) === null,
    reason: () => 'data directory is empty and there is no leader to clone from',
  },
  {
    id: 'clone.leader-not-running',
    when: 'my data directory is empty and the leader is not running yet',
    action: 'wait',
    applies: (s) => dataEmpty(s) && !leaderRunning(s),
    reason: (s) => `data directory is empty; waiting for leader ${leaderName(s)} to run`,
  },
  {
    id: 'clone.from-leader',
    when: 'my data directory is empty and a leader runs',
    action: 'clone_from_leader',
    applies: dataEmpty,
    reason: (s) => `data directory is empty; creating a replica from leader ${leaderName(s)}`,
    build: (s) => ({ kind: 'clone_from_leader', leader: leaderName(s) }),
  },
];

/** `initialize` holds a system identifier, and my data directory has another. */
function foreignInitialize(s: Situation): boolean {
  const init = initialize(s);
  return init.state === 'done' && s.local.pg.systemId !== null && s.local.pg.systemId !== init.systemId;
}

function foreignWhy(s: Situation): string {
  const init = initialize(s);
  return `\`initialize\` holds system identifier ${init.state === 'done' ? init.systemId : '?'}, my data has ${s.local.pg.systemId}`;
}
