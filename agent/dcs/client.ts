// Builds the etcd3 client: hosts, TLS, password auth, gRPC channel options and fault handling.
import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import type { TlsFiles } from '../config/types.js';
import type { Clock } from '../clock.js';
import { faultHandling } from './calls.js';

export interface EtcdConnection {
  /** "host:port" or "http(s)://host:port". */
  hosts: readonly string[];
  retryTimeoutMs: number;
  /** Monotonic time for the hosts' circuit breakers; wall time for the auth calls' deadlines. */
  clock: Clock;
  auth?: { username: string; password: string };
  /** PEM files; without `ca` the system's roots are trusted. */
  tls?: TlsFiles;
}

/** gRPC channel options: notice a dead connection and reconnect quickly once etcd is back. */
const GRPC_OPTIONS = {
  // Ping on open streams (the watch) so a silently dead connection is noticed. etcd refuses pings
  // more often than every 5 s (--grpc-keepalive-min-time), so stay well above that.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  // gRPC's default reconnect backoff grows to 2 minutes; etcd must be usable again within ~1 s.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
};

/** "10.0.0.1:2379" → "http://10.0.0.1:2379" (or https:// with TLS). */
export function normaliseHost(host: string, secure: boolean): string {
  const bare = host.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  if (bare.length === 0) throw new Error(`empty etcd host in ${JSON.stringify(host)}`);
  return `${secure ? 'https' : 'http'}://${bare}`;
}

export function createEtcdClient(c: EtcdConnection): Etcd3 {
  if (c.hosts.length === 0) throw new Error('at least one etcd host is needed');
  const secure = c.tls !== undefined || c.hosts.some((h) => h.trim().toLowerCase().startsWith('https://'));
  const options: IOptions = {
    hosts: c.hosts.map((h) => normaliseHost(h, secure)),
    grpcOptions: GRPC_OPTIONS,
    faultHandling: faultHandling(c.hosts.length, c.clock),
  };
  const tls = c.tls;
  if (tls && (tls.ca || tls.cert || tls.key)) {
    options.credentials = {
      // null: trust the system's roots (grpc's createSsl accepts it; etcd3's type does not say so).
      rootCertificate: (tls.ca ? readFileSync(tls.ca) : null) as Buffer,
      ...(tls.key ? { privateKey: readFileSync(tls.key) } : {}),
      ...(tls.cert ? { certChain: readFileSync(tls.cert) } : {}),
    };
  }
  if (c.auth) {
    options.auth = {
      username: c.auth.username,
      password: c.auth.password,
      callOptions: () => ({ deadline: c.clock.wallNow() + c.retryTimeoutMs }),
    };
  }
  return new Etcd3(options);
}
