// Members from etcd for proxy-config: a read-only use of the agent's etcd adapter (same
// deadlines, decoding, bad-value logging and self-healing watch). It never takes a lease and never
// writes.
import { systemClock } from '../agent/clock.js';
import type { TlsFiles } from '../agent/config/types.js';
import { EtcdDcs, clusterPrefix } from '../agent/dcs/index.js';
import type { Logger } from '../agent/log.js';
import type { MemberSource } from './watch.js';

export interface EtcdSourceOptions {
  readonly hosts: readonly string[];
  readonly namespace: string;
  readonly scope: string;
  readonly auth?: { username: string; password: string };
  readonly tls?: TlsFiles;
  /** Deadline of one read (retries included). */
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/** The adapter wants a member name (only to tell whether the leader key is "ours"): never a real one. */
const READER_NAME = 'pgwarden-proxy-config';

export function etcdMemberSource(o: EtcdSourceOptions): MemberSource & { close(): Promise<void> } {
  const dcs = new EtcdDcs({
    hosts: [...o.hosts],
    namespace: o.namespace,
    scope: o.scope,
    name: READER_NAME,
    retryTimeoutMs: o.timeoutMs,
    clock: systemClock,
    logger: o.logger,
    ...(o.auth ? { auth: o.auth } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
  });
  return {
    where: `${clusterPrefix(o.namespace, o.scope)}members/ on etcd ${o.hosts.join(',')}`,
    read: async () => (await dcs.readCluster()).view.members,
    watch: (onChange) => dcs.watch(onChange),
    close: () => dcs.close({ revokeLease: false }),
  };
}
