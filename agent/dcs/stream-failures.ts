// How a failed etcd stream (lease keepalive, watch) is reported to etcd3's connection pool.
// etcd3's own `markFailed` closes the host's whole gRPC connection on any "recoverable" error,
// a deadline exceeded included, then tells the host's fault policy. On a slow but live link a
// keepalive that runs past its deadline would so take the watch and every call in flight down
// with it. This version keeps the connection of a host that answered recently (HostPolicy), and
// still tells the host's policy, so its circuit breaker steers the next attempts elsewhere.
import { castGrpcError, isRecoverableError, LeaseClient, WatchClient, type Etcd3, type ICallable } from 'etcd3';
import type { IPolicy } from 'cockatiel';
import { HostPolicy } from './host-policy.js';

/** What etcd3's pool hands to stream callers as the host (etcd3 does not export its type). */
interface HostLike {
  readonly faultHandling: IPolicy;
  resetAllServices(): void;
}

/** Report a stream's failure: keep a slow host's connection, feed its policy either way. */
export function markStreamFailed(host: HostLike, error: Error): void {
  const err = castGrpcError(error);
  const policy = host.faultHandling;
  const slow = policy instanceof HostPolicy && policy.isSlow(err);
  if (isRecoverableError(err) && !slow) host.resetAllServices();
  // The host's policy turns a slow host's deadline into a SlowAnswer for its breaker itself.
  policy.execute(() => { throw err; }).catch(() => undefined);
}

/** The lease and watch clients of `client`, reporting stream failures with markStreamFailed. */
export function streamClients(client: Etcd3): { leases: LeaseClient; watches: WatchClient } {
  const pool = (client as unknown as { pool: ICallable<HostLike> }).pool;
  const patient: ICallable<HostLike> = {
    exec: (service, method, params, options) => pool.exec(service, method, params, options),
    withConnection: (service, fn) => pool.withConnection(service, fn),
    markFailed: markStreamFailed,
    get callOptionsFactory() {
      return pool.callOptionsFactory;
    },
  };
  return { leases: new LeaseClient(patient), watches: new WatchClient(patient) };
}
