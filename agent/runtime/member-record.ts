// What this node publishes in `members/<name>`: built from the config and the last probe.
import type { MemberRecord, PgState, PgView, Tags } from '../core/types.js';
import { PGWARDEN_VERSION } from '../version.js';

export interface Identity {
  readonly name: string;
  readonly apiUrl: string;
  readonly host: string;
  readonly port: number;
  readonly tags: Tags;
}

/** host:port → its parts ("[::1]:5432" works too). */
export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`not a host:port address: ${address}`);
  return { host: m[1]!, port: Number(m[2]) };
}

export function pgStateOf(pg: PgView, activity: PgState | null): PgState {
  if (activity) return activity;
  switch (pg.process) {
    case 'running': return 'running';
    case 'starting': return 'starting';
    case 'crashed': return 'crashed';
    default: return 'stopped';
  }
}

export function memberRecord(id: Identity, pg: PgView, state: PgState): MemberRecord {
  return {
    name: id.name,
    apiUrl: id.apiUrl,
    connUrl: `postgres://${id.host}:${id.port}/postgres`,
    host: id.host,
    port: id.port,
    role: pg.process === 'running' && pg.role ? pg.role : pg.dataDir === 'empty' ? 'uninitialized' : 'replica',
    state,
    timeline: pg.timeline,
    walLsn: pg.walLsn,
    receivedLsn: pg.receivedLsn,
    replayedLsn: pg.replayedLsn,
    tags: id.tags,
    version: PGWARDEN_VERSION,
  };
}
