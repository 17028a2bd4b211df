// Turns one range read of the cluster prefix into a ClusterSnapshot. Bad values are reported to
// the BadValueLog and treated as absent; nothing here throws on what etcd holds.
import type { IKeyValue } from 'etcd3';
import type { DynamicConfig } from '../config/types.js';
import type { ClusterView, InitializeState, MemberRecord } from '../core/types.js';
import type { ClusterSnapshot } from '../ports/ports.js';
import type { BadValueLog } from './bad-values.js';
import {
  decodeFailover, decodeHistory, decodeInitialize, decodeLeader, decodeMember, decodeStatus, decodeSync,
  type Decoded,
} from './codec.js';
import { decodeConfig } from './config-value.js';
import { KEY, MEMBERS_DIR, type ClusterKeys } from './keys.js';

export interface Reader {
  readonly keys: ClusterKeys;
  /** Our member name and current lease ID (for `leaderIsOurs`, `initializeIsOurs`). */
  readonly name: string;
  readonly leaseId: string | null;
  readonly badValues: BadValueLog;
}

export function decodeCluster(kvs: readonly IKeyValue[], revision: number, r: Reader): ClusterSnapshot {
  const stillBad = new Set<string>();
  const take = <T>(key: string, raw: string, d: Decoded<T>): T | null => {
    if (d.ok) return d.value;
    stillBad.add(key);
    r.badValues.bad(r.keys.prefix + key, raw, d.reason);
    return null;
  };

  let leader: string | null = null;
  let leaderKey: ClusterView['leaderKey'] = null;
  let leaderIsOurs = false;
  let initialize: InitializeState = { state: 'absent' };
  let initializeIsOurs = false;
  let config: DynamicConfig | null = null;
  let configRevision = 0;
  const members: MemberRecord[] = [];
  let status: ClusterView['status'] = null;
  let failover: ClusterView['failover'] = null;
  let sync: ClusterView['sync'] = null;
  let history: ClusterView['history'] = [];

  for (const kv of kvs) {
    const key = r.keys.relative(kv.key);
    if (key === null) continue;
    const raw = kv.value.toString('utf8');
    if (key.startsWith(MEMBERS_DIR)) {
      const name = key.slice(MEMBERS_DIR.length);
      const member = name.length > 0 && !name.includes('/')
        ? take(key, raw, decodeMember(name, raw))
        : take<MemberRecord>(key, raw, { ok: false, reason: 'member key must be members/<name>' });
      if (member) members.push(member);
      continue;
    }
    switch (key) {
      case KEY.leader:
        leader = take(key, raw, decodeLeader(raw));
        leaderKey = { revision: Number(kv.mod_revision), onLease: kv.lease !== '0' && kv.lease !== '' };
        leaderIsOurs = leader === r.name && r.leaseId !== null && kv.lease === r.leaseId;
        break;
      case KEY.initialize:
        // A malformed value is logged and counts as "initialized, system identifier unknown":
        // treating it as absent would make every member race to bootstrap (and fail to claim).
        initialize = take(key, raw, decodeInitialize(raw)) ?? { state: 'malformed' };
        initializeIsOurs = initialize.state === 'bootstrapping' && r.leaseId !== null && kv.lease === r.leaseId;
        break;
      case KEY.config:
        // The revision is the key's, even when its value is bad: a CAS may then replace it.
        configRevision = Number(kv.mod_revision);
        config = take(key, raw, decodeConfig(raw, `etcd ${r.keys.prefix}${key}`));
        break;
      case KEY.status:
        status = take(key, raw, decodeStatus(raw));
        break;
      case KEY.failover:
        failover = take(key, raw, decodeFailover(raw));
        break;
      case KEY.sync:
        sync = take(key, raw, decodeSync(raw));
        break;
      case KEY.history:
        history = take(key, raw, decodeHistory(raw)) ?? [];
        break;
      default:
        break; // keys of other tools or later versions: not ours to judge
    }
  }
  r.badValues.keepOnly(new Set([...stillBad].map((k) => r.keys.prefix + k)));
  members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  return {
    view: { initialize, leader, leaderKey, members, status, failover, sync, history, paused: config?.pause === true },
    config,
    configRevision,
    revision: Number(revision),
    leaderIsOurs,
    initializeIsOurs,
  };
}
