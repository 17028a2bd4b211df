// The runtime's PostgresNode port over the simulated PostgreSQL server. Every call takes a little
// simulated time, and its answer reaches the agent only through its process gate (not when the
// agent is killed; later when it is frozen).
import type { Lsn, PgView } from '../../../agent/core/types.js';
import type { PostgresNode, ReplicationRow, RewindOutcome, Upstream } from '../../../agent/ports/ports.js';
import type { Network } from '../network.js';
import type { Done, SimPostgres } from '../postgres.js';
import type { Proc } from '../proc.js';
import type { Rng } from '../rng.js';

export interface SimPgEnv {
  readonly proc: Proc;
  readonly pg: SimPostgres;
  readonly net: Network;
  readonly rng: Rng;
  /** Another node's PostgreSQL, by member name. */
  peer(name: string): SimPostgres | undefined;
}

export class SimPgError extends Error {
  override name = 'SimPgError';
}

export class SimPgNode implements PostgresNode {
  constructor(private readonly env: SimPgEnv) {}

  /** A callback-style call of the simulated server, answered through the agent's gate. */
  #call<T>(what: string, call: (done: Done<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      call(this.env.proc.gate((err: string | null, v?: T) => (err ? reject(new SimPgError(`${what}: ${err}`)) : resolve(v as T))));
    });
  }

  /** `fn` after a small delay (a query, a config file rewrite). */
  #after<T>(lo: number, hi: number, fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.env.proc.timer(this.env.rng.int(lo, hi), () => {
        try {
          resolve(fn());
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** A query on a running server; pg_controldata (a process to spawn) on a stopped one. */
  probe(): Promise<PgView> {
    const running = this.env.pg.process === 'running';
    return this.#after(running ? 1 : 20, running ? 6 : 60, () => this.env.pg.probe());
  }

  initdb(): Promise<void> {
    return this.#call('initdb', (done) => this.env.pg.initdb(done));
  }

  /** Roles and passwords on a fresh primary. */
  postBootstrap(): Promise<void> {
    return this.#after(20, 80, () => undefined);
  }

  basebackup(from: Upstream): Promise<void> {
    return this.#call('basebackup', (done) => this.env.pg.basebackup(from.name, done));
  }

  configureStandby(upstream: Upstream | null): Promise<void> {
    return this.#after(1, 5, () => this.env.pg.configureStandby(upstream?.name ?? null));
  }

  configurePrimary(): Promise<void> {
    return this.#after(1, 5, () => this.env.pg.configurePrimary());
  }

  follow(upstream: Upstream): Promise<void> {
    return this.#call('follow', (done) => this.env.pg.follow(upstream.name, done));
  }

  start(): Promise<void> {
    return this.#call('start', (done) => this.env.pg.start(done));
  }

  stop(mode: 'fast' | 'immediate'): Promise<void> {
    return this.#call(`stop ${mode}`, (done) => this.env.pg.stop(mode, done));
  }

  promote(): Promise<void> {
    return this.#call('promote', (done) => this.env.pg.promote(done));
  }

  /** SELECT pg_last_wal_receive_lsn() on the peer's PostgreSQL, over the network (1 s timeout). */
  peerReceivedLsn(peer: Upstream): Promise<Lsn | null> {
    const { proc, net, pg } = this.env;
    const other = this.env.peer(peer.name);
    return new Promise((resolve) => {
      let settled = false;
      const answer = proc.gate((v: Lsn | null) => {
        if (settled) return;
        settled = true;
        resolve(v);
      });
      proc.timer(1000, () => answer(null));
      if (!other) return answer(null);
      net.send(pg.host, other.host, () => {
        const v = other.process === 'running' && other.role === 'replica' ? other.data?.flush ?? null : null;
        net.send(other.host, pg.host, () => answer(v));
      });
    });
  }

  checkpoint(): Promise<void> {
    return this.#after(5, 40, () => {
      if (!this.env.pg.writable && this.env.pg.role !== 'replica') throw new SimPgError('checkpoint: PostgreSQL is not running');
    });
  }

  reloadConfig(): Promise<void> {
    return this.#after(1, 5, () => undefined);
  }

  /** Replication slots are not modelled (a replica can always catch up). */
  setUseSlots(): Promise<void> {
    return Promise.resolve();
  }

  setSynchronousStandbyNames(value: string): Promise<boolean> {
    return this.#call('set synchronous_standby_names', (done) => this.env.pg.setSynchronousStandbyNames(value, done));
  }

  rewind(from: Upstream): Promise<RewindOutcome> {
    return this.#call('rewind', (done) => this.env.pg.rewind(from.name, done));
  }

  removeDataDir(): Promise<void> {
    return this.#call('remove data dir', (done) => this.env.pg.removeDataDir(done));
  }

  /** Kept copies are not modelled: the old data directory is removed. */
  async setAsideDataDir(): Promise<string | null> {
    await this.removeDataDir();
    return null;
  }

  discardOldDataDir(): Promise<void> {
    return Promise.resolve();
  }

  /** PostgreSQL parameters are not modelled. */
  applyParameters(): Promise<boolean> {
    return Promise.resolve(false);
  }

  syncSlots(): Promise<void> {
    return Promise.resolve();
  }

  onUnexpectedExit(listener: (code: number | null, signal: string | null) => void): void {
    this.env.pg.onUnexpectedExit = this.env.proc.gate(() => listener(null, 'SIGKILL'));
  }

  replication(): Promise<ReplicationRow[]> {
    return this.#after(1, 4, () => this.env.pg.replication().map((r) => ({ ...r, client_addr: r.application_name })));
  }
}
