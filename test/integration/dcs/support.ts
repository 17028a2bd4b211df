// Shared pieces of the DCS integration tests: adapters on a test etcd, member records, waiting.
import { systemClock } from '../../../agent/clock.js';
import { EtcdDcs, type EtcdDcsOptions } from '../../../agent/dcs/index.js';
import { captureLogger, type LogLine } from '../../harness/capture-log.js';
import type { MemberRecord } from '../../../agent/core/types.js';
import { NO_TAGS } from '../../../agent/core/types.js';

let scopeSeq = 0;
/** A fresh scope per test so tests on one etcd do not see each other's keys. */
export function freshScope(): string {
  return `t${process.pid}-${++scopeSeq}`;
}

/** An EtcdDcs whose renewLease() asks for `ttlSeconds` (default 2) unless told otherwise. */
export type TestDcs = EtcdDcs & { lines: LogLine[]; renewLease(ttlSeconds?: number): ReturnType<EtcdDcs['renewLease']> };

export function makeDcs(
  endpoints: string[], over: Partial<EtcdDcsOptions> & { scope: string; name: string; ttlSeconds?: number },
): TestDcs {
  const { logger, lines } = captureLogger();
  const { ttlSeconds = 2, ...options } = over;
  const dcs = new EtcdDcs({
    hosts: endpoints,
    namespace: '/pgwarden-test',
    retryTimeoutMs: 1000,
    clock: systemClock,
    logger,
    ...options,
  });
  const renew = dcs.renewLease.bind(dcs);
  return Object.assign(dcs, { lines, renewLease: (ttl?: number) => renew(ttl ?? ttlSeconds) });
}

export function member(name: string, over: Partial<MemberRecord> = {}): MemberRecord {
  return {
    name,
    apiUrl: `http://127.0.0.1:8008/${name}`,
    connUrl: `postgres://127.0.0.1:5432/postgres`,
    host: '127.0.0.1',
    port: 5432,
    role: 'replica',
    state: 'running',
    timeline: 1,
    walLsn: null,
    receivedLsn: 100,
    replayedLsn: 90,
    tags: NO_TAGS,
    version: '0.1.0',
    ...over,
  };
}
