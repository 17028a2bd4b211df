// What an agent remembers about the cluster across its reads of etcd: who it has seen (slot
// retention; members expected back after etcd lost its data), since when the leader key has held
// a value no member can own, since when `initialize` has been absent, and the last `sync` it saw
// (which outlives etcd losing its data, though not a restart of the agent).
import type { ClusterView, HaSettings, LocalView, SyncState } from '../core/types.js';
import { invalidLeaderGraceMs, invalidLeaderKey } from '../core/leader-key.js';
import type { Logger } from '../log.js';

/** A member seen in a cluster view this recently is expected back (recovery waits for it, bounded). */
const EXPECTED_MEMBER_MS = 10 * 60_000;

export class ClusterMemory {
  /** Member name → monotonic ms it was last seen in a cluster view. */
  readonly membersSeen = new Map<string, number>();
  #invalidLeader: { revision: number; since: number } | null = null;
  #initializeAbsentSince: number | null = null;
  #lastKnownSync: SyncState | null = null;

  constructor(private readonly self: string, private readonly logger: Logger) {}

  /** Fold a cluster view read at monotonic `now`. */
  observe(view: ClusterView, now: number, settings: HaSettings): void {
    for (const m of view.members) this.membersSeen.set(m.name, now);
    if (view.sync) this.#lastKnownSync = view.sync;
    this.#initializeAbsentSince = view.initialize.state === 'absent' ? (this.#initializeAbsentSince ?? now) : null;
    const why = invalidLeaderKey(view);
    const revision = view.leaderKey?.revision ?? null;
    if (why === null || revision === null) {
      this.#invalidLeader = null;
      return;
    }
    if (this.#invalidLeader?.revision === revision) return;
    this.#invalidLeader = { revision, since: now };
    // One clear line per value (not one per cycle, and no stack).
    this.logger.warn({ revision, reason: why }, `${why}; deleting it if it stays so for ${invalidLeaderGraceMs(settings) / 1000} s`);
  }

  /** What the decision needs of it, against the current view. */
  localFields(view: ClusterView | null, now: number): Pick<LocalView, 'invalidLeaderSince' | 'initializeAbsentSince' | 'silentMembers' | 'lastKnownSync'> {
    const present = new Set(view?.members.map((m) => m.name) ?? []);
    const silentMembers = [...this.membersSeen]
      .filter(([name, at]) => name !== this.self && !present.has(name) && now - at <= EXPECTED_MEMBER_MS)
      .map(([name]) => name)
      .sort();
    return {
      invalidLeaderSince: this.#invalidLeader?.since ?? null,
      initializeAbsentSince: this.#initializeAbsentSince,
      silentMembers,
      lastKnownSync: this.#lastKnownSync,
    };
  }
}
