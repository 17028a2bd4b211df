// Moving our keys to a lease with another TTL (the dynamic ttl changed; see lease-rotation.ts):
// the leader key holding our name, our member key and our bootstrap claim. One transaction; each
// key moves only if it is still on the old lease at the revision we read, so a key another
// writer replaced meanwhile is left alone.
import type { ITxnRequest, ITxnResponse } from 'etcd3';
import { onLease, revisionIs } from './compare.js';
import { KEY, MEMBERS_DIR, type ClusterKeys } from './keys.js';

export interface RebindRequest {
  readonly name: string;
  readonly keys: ClusterKeys;
  readonly from: string;
  readonly to: string;
  /** One etcd transaction within the caller's budget. */
  readonly txn: (what: string, req: ITxnRequest) => Promise<ITxnResponse>;
}

export async function rebindKeys(r: RebindRequest): Promise<void> {
  const moves: Array<{ key: Buffer; value?: string }> = [
    { key: r.keys.key(KEY.leader), value: r.name },
    { key: r.keys.key(`${MEMBERS_DIR}${r.name}`) },
    { key: r.keys.key(KEY.initialize), value: '' },
  ];
  const read = await r.txn('read keys to move', { compare: [], success: moves.map((m) => ({ request_range: { key: m.key } })), failure: [] });
  const ops: ITxnRequest[] = [];
  read.responses.forEach((res, i) => {
    const kv = res.response_range?.kvs[0];
    const m = moves[i]!;
    if (!kv || kv.lease !== r.from || (m.value !== undefined && kv.value.toString('utf8') !== m.value)) return;
    ops.push({
      compare: [onLease(m.key, r.from), revisionIs(m.key, Number(kv.mod_revision))],
      success: [{ request_put: { key: m.key, value: kv.value, lease: r.to } }],
      failure: [],
    });
  });
  if (ops.length === 0) return;
  await r.txn('move keys to the new lease', { compare: [], success: ops.map((t) => ({ request_txn: t })), failure: [] });
}
