// ctl's view of etcd: one linearizable range read of the cluster prefix, decoded by the same code
// as the agents (decodeCluster), and the prefix delete behind `ctl remove`. Every call has a
// deadline; malformed values are reported as warnings on stderr and treated as absent.
import { Writable } from 'node:stream';
import type { Etcd3 } from 'etcd3';
import type { DynamicConfig } from '../config/types.js';
import type { ClusterView } from '../core/types.js';
import { systemClock } from '../clock.js';
import { BadValueLog } from '../dcs/bad-values.js';
import { CallRunner } from '../dcs/calls.js';
import { createEtcdClient } from '../dcs/client.js';
import { decodeCluster } from '../dcs/cluster.js';
import { ClusterKeys } from '../dcs/keys.js';
import { createLogger } from '../log.js';
import type { CtlConfig } from './config.js';
import { CtlFailure, type Output } from './io.js';

export interface ClusterRead {
  readonly scope: string;
  readonly view: ClusterView;
  /** Null when etcd holds no (valid) config. */
  readonly config: DynamicConfig | null;
  /** mod_revision of the config key (0 when absent): the CAS base for edit-config. */
  readonly configRevision: number;
  /** Number of keys under the prefix (0: no such cluster). */
  readonly keyCount: number;
}

/** What commands need from etcd (a fake in unit tests). */
export interface ClusterSource {
  read(): Promise<ClusterRead>;
  /** Delete every key of the cluster; resolves with how many were deleted. */
  removeAll(): Promise<number>;
  close(): void;
}

export const ETCD_TIMEOUT_MS = 5_000;

export class CtlEtcd implements ClusterSource {
  readonly #client: Etcd3;
  readonly #keys: ClusterKeys;
  readonly #scope: string;
  readonly #timeoutMs: number;
  readonly #badValues: BadValueLog;
  readonly #runner: CallRunner;
  readonly #hosts: string;

  constructor(cfg: CtlConfig, scope: string, stderr: Output, timeoutMs = ETCD_TIMEOUT_MS) {
    this.#keys = new ClusterKeys(cfg.namespace, scope);
    this.#scope = scope;
    this.#timeoutMs = timeoutMs;
    this.#client = createEtcdClient({
      hosts: cfg.etcd.hosts,
      retryTimeoutMs: timeoutMs,
      clock: systemClock,
      ...(cfg.etcd.username !== undefined && cfg.etcd.password !== undefined
        ? { auth: { username: cfg.etcd.username, password: cfg.etcd.password } } : {}),
      ...(cfg.etcd.tls ? { tls: cfg.etcd.tls } : {}),
    });
    this.#badValues = new BadValueLog(warningLogger(stderr));
    this.#runner = new CallRunner(systemClock, cfg.etcd.hosts.length);
    this.#hosts = cfg.etcd.hosts.join(',');
  }

  async read(): Promise<ClusterRead> {
    const res = await this.#call('read the cluster', true, (opts) =>
      this.#client.kv.range({ key: this.#keys.prefixBuf, range_end: this.#keys.rangeEnd }, opts));
    const snap = decodeCluster(res.kvs, Number(res.header.revision), {
      keys: this.#keys, name: '\u0000ctl', leaseId: null, badValues: this.#badValues,
    });
    return { scope: this.#scope, view: snap.view, config: snap.config, configRevision: snap.configRevision, keyCount: res.kvs.length };
  }

  async removeAll(): Promise<number> {
    const res = await this.#call('delete the cluster keys', true, (opts) =>
      this.#client.kv.deleteRange({ key: this.#keys.prefixBuf, range_end: this.#keys.rangeEnd }, opts));
    return Number(res.deleted);
  }

  close(): void {
    this.#client.close();
  }

  get prefix(): string {
    return this.#keys.prefix;
  }

  /** One operation within the timeout, retried across hosts like the agents' calls (calls.ts). */
  async #call<T>(what: string, idempotent: boolean, fn: (opts: { deadline: Date }) => Promise<T>): Promise<T> {
    try {
      return await this.#runner.run(what, this.#runner.budget(this.#timeoutMs), fn, { idempotent });
    } catch (err) {
      throw new CtlFailure(`etcd (${this.#hosts}): ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** A pino logger whose warnings come out as "warning: …" lines (BadValueLog needs a Logger). */
function warningLogger(out: Output) {
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line.trim()) continue;
        try {
          out.write(`warning: ${(JSON.parse(line) as { msg?: string }).msg ?? line}\n`);
        } catch {
          out.write(`warning: ${line}\n`);
        }
      }
      cb();
    },
  });
  return createLogger({ level: 'warn', format: 'json', destination });
}
