// The compare clauses of the transactions EtcdDcs sends: on a key's value, lease, existence or
// revision.
import type { ICompare } from 'etcd3';

export function valueIs(key: Buffer, value: string): ICompare {
  return { key, target: 'Value', result: 'Equal', value: Buffer.from(value) };
}

/** The key is bound to `lease` (etcd compares lease IDs; an absent key never matches). */
export function onLease(key: Buffer, lease: string): ICompare {
  return { key, target: 'Lease', result: 'Equal', lease };
}

export function absent(key: Buffer): ICompare {
  return { key, target: 'Create', result: 'Equal', create_revision: 0 };
}

/** The key was not modified after `revision` (or is absent: its mod_revision is 0). */
export function notModifiedAfter(key: Buffer, revision: number): ICompare {
  return { key, target: 'Mod', result: 'Less', mod_revision: revision + 1 };
}

/** mod_revision equals `revision`; 0 means "the key is absent". */
export function revisionIs(key: Buffer, revision: number): ICompare {
  return revision === 0 ? absent(key) : { key, target: 'Mod', result: 'Equal', mod_revision: revision };
}
