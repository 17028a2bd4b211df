// Bootstrap questions, pure: is the data directory a failed step created the cluster already; how long
// and against whom a re-initialization from existing data (etcd lost its data) must wait.
import type { InitializeState, MemberRecord, SyncState } from './types.js';

/**
 * - `recorded`: `initialize` holds this data directory's system identifier. It IS the cluster now
 *   (a step whose write reached etcd although its answer came late): keep it.
 * - `not_recorded`: `initialize` is absent, a bootstrap claim, or another identifier. This
 *   bootstrap did not take: its fresh data directory may go and the claim may be given back.
 * - `unknown`: `initialize` could not be read (or is malformed), or our own identifier could not be
 *   probed. Nothing may be removed on a guess; the next cycles read etcd again.
 */
export type BootstrapRecord = 'recorded' | 'not_recorded' | 'unknown';

export function bootstrapRecord(initialize: InitializeState | null, systemId: string | null): BootstrapRecord {
  if (initialize === null || initialize.state === 'malformed') return 'unknown';
  if (initialize.state !== 'done') return 'not_recorded';
  if (systemId === null) return 'unknown';
  return initialize.systemId === systemId ? 'recorded' : 'not_recorded';
}

/**
 * How long a member with data waits for members it saw recently and that are silent now, when
 * `initialize` is gone (etcd lost its data) and the cluster must be re-initialized from existing
 * data directories: the most advanced data may be on one of them.
 */
export function recoveryWaitMs(settings: { readonly ttlMs: number }): number {
  return Math.max(30_000, 3 * settings.ttlMs);
}

/**
 * How long every member with data waits once `initialize` is gone, silent members or not: long
 * enough for every live agent to publish its member key again (a freshly started agent remembers
 * nobody, so it cannot know who is missing).
 */
export function recoveryMinWaitMs(settings: { readonly ttlMs: number; readonly loopWaitMs: number }): number {
  return settings.ttlMs + 2 * settings.loopWaitMs;
}

/**
 * Synchronous mode: may this member re-initialize the cluster, i.e. can it tell that it holds every
 * acknowledged commit? Only if the last `sync` it saw names it (as leader or standby): null, else
 * why not.
 */
export function syncBarsRecovery(self: string, lastKnownSync: SyncState | null | undefined): string | null {
  if (!lastKnownSync) return 'I do not know the last `sync` state (my agent started after etcd lost it)';
  if (lastKnownSync.leader === self || lastKnownSync.syncStandbys.includes(self)) return null;
  return `the last \`sync\` I saw names ${[lastKnownSync.leader, ...lastKnownSync.syncStandbys].join(', ')}, not me`;
}

/** How much WAL a member's key says its PostgreSQL has (primary: flushed; replica: received or replayed). */
function recordedPosition(m: MemberRecord): number | null {
  const all = [m.walLsn, m.receivedLsn, m.replayedLsn].filter((x): x is number => x !== null);
  return all.length ? Math.max(...all) : null;
}

/**
 * Re-initializing from existing data: a member whose key says it holds more WAL than we do (a
 * later timeline, or the same timeline and a further position), or null. Peers whose REST API
 * did not answer still count by their key: unlike a failover, a member we cannot reach now may
 * hold the only copy of acknowledged writes.
 */
export function recoveryRival(members: readonly MemberRecord[], self: string, position: number | null, timeline: number | null): string | null {
  const mine = position ?? -1;
  const myTl = timeline ?? 0;
  for (const m of members) {
    if (m.name === self) continue;
    const theirs = recordedPosition(m);
    if (theirs === null || m.timeline === null) continue;
    if (m.timeline > myTl || (m.timeline === myTl && theirs > mine)) return `${m.name} (timeline ${m.timeline} at ${theirs}; mine: timeline ${myTl} at ${mine})`;
  }
  return null;
}
