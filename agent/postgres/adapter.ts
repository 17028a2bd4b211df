// PostgresAdapter: the local PostgreSQL behind the PostgresNode port. It composes the parts next
// to it: where things live (layout), the configuration we manage (managed-conf), the postmaster
// over time (postmaster), what it looks like now (observer); and runs the actions the HA loop
// asks for (initdb, pg_basebackup, pg_rewind, role changes, promote, synchronous_standby_names),
// one lifecycle operation at a time.
import path from 'node:path';
import { sleep, systemClock, type Clock } from '../clock.js';
import type { AgentConfig } from '../config/types.js';
import { parseLsn } from '../core/lsn.js';
import type { Lsn, PgView } from '../core/types.js';
import type { Logger } from '../log.js';
import type { PostgresNode, ReplicationRow, RewindOutcome, Upstream } from '../ports/ports.js';
import { ensureRoles, runBasebackup, runInitdb } from './bootstrap.js';
import type { Owner } from './exec.js';
import { isInitialized, isMissingOrEmpty, removeIfExists } from './fsutil.js';
import { PgLayout } from './layout.js';
import { ManagedConf } from './managed-conf.js';
import { PgObserver } from './observer.js';
import { PostmasterKeeper } from './postmaster.js';
import { discardOldCopies, keepAside } from './old-data-dir.js';
import { ensureSourceCheckpoint, runRewind } from './rewind.js';
import { syncPhysicalSlots } from './slots.js';
import { ProbeConnection, withConnection, type ConnConfig } from './sql.js';
export { osUserIds } from './users.js';

export interface PostgresAdapterOptions {
  /** Member name: application_name of our replication connection and source of our slot name. */
  readonly name: string;
  readonly pg: AgentConfig['postgresql'];
  readonly logger: Logger;
  /** OS identity for every PostgreSQL program and every file we write. Required when root. */
  readonly runAs?: Owner;
  /** Postmaster stdout/stderr. Default `<data_dir>.postgresql.log`, else `<data_dir>/pgwarden.postgresql.log`. */
  readonly logFile?: string;
  /** start(): readiness deadline. Default 60 s. */
  readonly startTimeoutMs?: number;
  /** stop('fast') deadline before SIGKILL. Default 60 s. */
  readonly stopTimeoutMs?: number;
  /** stop('immediate') deadline before SIGKILL. Default 10 s. */
  readonly immediateStopTimeoutMs?: number;
  readonly initdbTimeoutMs?: number;
  /** pg_basebackup deadline. Default 10 min. */
  readonly basebackupTimeoutMs?: number;
  /** pg_rewind deadline. Default 10 min. */
  readonly rewindTimeoutMs?: number;
  /** Seconds pg_promote waits for the promotion. Default 60. */
  readonly promoteWaitSeconds?: number;
  /** Deadlines, polls and timers. Default systemClock. */
  readonly clock?: Clock;
}

export class PostgresAdapter implements PostgresNode {
  readonly name: string;
  readonly dataDir: string;
  /** Private 0700 directory of the unix socket and the passfile (short path for the socket). */
  readonly runDir: string;
  readonly #pg: AgentConfig['postgresql'];
  readonly #log: Logger;
  readonly #owner: Owner | null;
  readonly #opts: Required<Omit<PostgresAdapterOptions, 'runAs' | 'logFile' | 'logger' | 'name' | 'pg' | 'clock'>>;
  readonly #clock: Clock;
  readonly #layout: PgLayout;
  readonly #conf: ManagedConf;
  readonly #postmaster: PostmasterKeeper;
  readonly #observer: PgObserver;
  /** A data-dir operation (initdb, pg_basebackup, pg_rewind, removal) is running. */
  #busy: string | null = null;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(opts: PostgresAdapterOptions) {
    const uid = process.getuid?.() ?? -1;
    if (uid === 0 && !opts.runAs) {
      throw new Error(
        'pgwarden runs as root but PostgreSQL refuses to: pass runAs (the PostgreSQL OS user, e.g. osUserIds("postgres")) or run the agent as that user');
    }
    if (opts.runAs && opts.runAs.uid === 0) throw new Error('runAs must not be root: PostgreSQL refuses to run as root');
    if (opts.runAs && uid !== 0 && opts.runAs.uid !== uid) {
      throw new Error(`runAs uid ${opts.runAs.uid} needs a root agent (this process runs as uid ${uid})`);
    }
    this.name = opts.name;
    this.#pg = opts.pg;
    this.#owner = opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : null;
    this.#log = opts.logger; // callers pass a child logger (component: 'postgres')
    this.#clock = opts.clock ?? systemClock;
    this.#opts = {
      startTimeoutMs: opts.startTimeoutMs ?? 60_000,
      stopTimeoutMs: opts.stopTimeoutMs ?? 60_000,
      immediateStopTimeoutMs: opts.immediateStopTimeoutMs ?? 10_000,
      initdbTimeoutMs: opts.initdbTimeoutMs ?? 120_000,
      basebackupTimeoutMs: opts.basebackupTimeoutMs ?? 600_000,
      rewindTimeoutMs: opts.rewindTimeoutMs ?? 600_000,
      promoteWaitSeconds: opts.promoteWaitSeconds ?? 60,
    };
    this.#layout = new PgLayout(opts.pg, this.#owner, this.#log, opts.logFile, uid);
    this.dataDir = this.#layout.dataDir;
    this.runDir = this.#layout.runDir;
    const probeConn = new ProbeConnection({
      ...this.localConnection(),
      connectionTimeoutMillis: 1000,
      statement_timeout: 1000,
      query_timeout: 2000,
      keepAlive: true,
    }, this.#log);
    this.#conf = new ManagedConf(this.name, this.#pg, this.#layout, this.#owner, this.#log);
    this.#postmaster = new PostmasterKeeper({
      layout: this.#layout, conf: this.#conf, binDir: this.#pg.bin_dir, owner: this.#owner, timeouts: this.#opts, probeConn,
      log: this.#log, clock: this.#clock,
    });
    this.#observer = new PgObserver({
      pg: this.#pg, owner: this.#owner, layout: this.#layout, conf: this.#conf, postmaster: this.#postmaster, probeConn,
      busy: () => this.#busy !== null, log: this.#log, clock: this.#clock,
    });
  }

  /** Unix-socket connection to the local server as the superuser (trust over the 0700 socket). */
  localConnection(): ConnConfig {
    return this.#layout.localConnection();
  }

  /** The running postmaster's pid, or null (for the fence guard). */
  get postmasterPid(): number | null {
    const pm = this.#postmaster.pm;
    return pm?.alive ? pm.pid : null;
  }

  /** The postmaster's log file (resolved at the first start). */
  get logFile(): string {
    return this.#layout.logFile;
  }

  // ---------------------------------------------------------------- serialization

  /** Lifecycle operations run one at a time (stop() and probe() never wait for them). */
  #serial<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`${what}: ${msg}`, { cause: err });
    });
  }

  async #dataDirOp<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.#busy = what;
    try {
      return await fn();
    } finally {
      this.#busy = null;
    }
  }

  // ---------------------------------------------------------------- the postmaster

  async start(): Promise<void> {
    const aborted = this.#postmaster.abortCheck();
    return this.#serial('start', () => this.#postmaster.start(aborted));
  }

  async stop(mode: 'fast' | 'immediate'): Promise<void> {
    return this.#postmaster.stop(mode, this.#busy !== null);
  }

  onUnexpectedExit(listener: (code: number | null, signal: string | null) => void): void {
    this.#postmaster.onUnexpectedExit(listener);
  }

  // ---------------------------------------------------------------- probe

  probe(): Promise<PgView> {
    return this.#observer.probe();
  }

  replication(): Promise<ReplicationRow[]> {
    return this.#observer.replication();
  }

  // ---------------------------------------------------------------- data dir lifecycle

  async initdb(): Promise<void> {
    return this.#serial('initdb', () => this.#dataDirOp('initdb', async () => {
      await this.#postmaster.requireStopped();
      if (await isInitialized(this.dataDir)) throw new Error(`${this.dataDir} is already initialized`);
      if (!(await isMissingOrEmpty(this.dataDir))) throw new Error(`${this.dataDir} is not empty`);
      await this.#layout.checkTraversable(path.dirname(this.dataDir));
      await this.#layout.prepareEmptyDataDir();
      await this.#layout.ensureRunDir();
      await runInitdb({
        binDir: this.#pg.bin_dir, dataDir: this.dataDir, owner: this.#owner, superuser: this.#pg.superuser.username,
        password: this.#pg.superuser.password, scratchDir: this.runDir, timeoutMs: this.#opts.initdbTimeoutMs, log: this.#log,
        clock: this.#clock,
      });
      this.#conf.upstream = null;
      this.#observer.forgetControlData();
      await removeIfExists(path.join(this.dataDir, 'standby.signal'));
      await this.#conf.write();
    }));
  }

  async postBootstrap(): Promise<void> {
    return this.#serial('postBootstrap', () =>
      withConnection(this.#layout.actionConnection(30_000), this.#clock, (client) => ensureRoles(client, this.#pg, this.#log)));
  }

  async basebackup(from: Upstream): Promise<void> {
    return this.#serial('basebackup', () => this.#dataDirOp('basebackup', async () => {
      await this.#postmaster.requireStopped();
      if (!(await isMissingOrEmpty(this.dataDir))) throw new Error(`${this.dataDir} is not empty`);
      await this.#layout.checkTraversable(path.dirname(this.dataDir));
      await this.#layout.prepareEmptyDataDir();
      await this.#layout.ensureRunDir();
      this.#observer.forgetControlData();
      await runBasebackup({
        binDir: this.#pg.bin_dir, dataDir: this.dataDir, owner: this.#owner, from,
        replicationUser: this.#pg.replication.username, passfile: this.#layout.passfile,
        timeoutMs: this.#opts.basebackupTimeoutMs, log: this.#log, clock: this.#clock,
      });
      // A fresh clone must never come up as a primary: it is a standby of its source until told otherwise.
      this.#conf.upstream = from;
      await this.#conf.write();
      await this.#layout.writeStandbySignal();
    }));
  }

  async rewind(from: Upstream): Promise<RewindOutcome> {
    return this.#serial('rewind', () => this.#dataDirOp('rewind', async () => {
      await this.#conf.requireInitialized();
      await this.#postmaster.requireStopped();
      await this.#layout.ensureRunDir();
      this.#observer.forgetControlData();
      const previous = await this.#conf.currentUpstream();
      try {
        await ensureSourceCheckpoint({
          host: from.host, port: from.port, user: this.#pg.superuser.username, database: 'postgres',
          ...(this.#pg.superuser.password ? { password: this.#pg.superuser.password } : {}),
          connectionTimeoutMillis: 5000, application_name: 'pgwarden_rewind',
        }, this.#log, this.#clock);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message, from: from.name }, 'cannot check the rewind source checkpoint');
      }
      let outcome: RewindOutcome;
      try {
        outcome = await runRewind({
          binDir: this.#pg.bin_dir, dataDir: this.dataDir, owner: this.#owner, from, superuser: this.#pg.superuser.username,
          passfile: this.#layout.passfile, timeoutMs: this.#opts.rewindTimeoutMs, log: this.#log, clock: this.#clock,
        });
      } catch (err) {
        // Transient (source refused, timeout…): the data stays; put our config back and let the caller retry.
        this.#conf.upstream = previous;
        await this.#conf.write().catch((e: unknown) => this.#log.error({ err: (e as Error).message }, 'cannot rewrite the config after pg_rewind'));
        throw err;
      }
      // pg_rewind copied the source's config files: put ours back. A rewound (or already
      // consistent) former primary must only ever start as a standby of `from`.
      try {
        if (outcome === 'failed') {
          this.#conf.upstream = previous;
          await this.#conf.write();
        } else {
          this.#conf.upstream = from;
          await this.#conf.write();
          await this.#layout.writeStandbySignal();
        }
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'cannot rewrite the config after pg_rewind');
        if (outcome !== 'failed') throw err;
      }
      return outcome;
    }));
  }

  async removeDataDir(): Promise<void> {
    return this.#serial('removeDataDir', () => this.#dataDirOp('removeDataDir', async () => {
      await this.#postmaster.requireStopped();
      await removeIfExists(this.dataDir);
      this.#conf.upstream = null;
      this.#observer.forgetControlData();
      this.#log.info({ dataDir: this.dataDir }, 'data dir removed');
    }));
  }

  async setAsideDataDir(): Promise<string | null> {
    return this.#serial('setAsideDataDir', () => this.#dataDirOp('setAsideDataDir', async () => {
      await this.#postmaster.requireStopped();
      let kept: string | null = null;
      if (this.#pg.keep_old_data_dir !== false && (await isInitialized(this.dataDir))) {
        const stamp = new Date(this.#clock.wallNow()).toISOString().replace(/[:.]/g, '-');
        kept = await keepAside(this.dataDir, stamp, this.#log);
      }
      if (kept === null) {
        await removeIfExists(this.dataDir);
        this.#log.info({ dataDir: this.dataDir }, 'data dir removed');
      }
      this.#conf.upstream = null;
      this.#observer.forgetControlData();
      return kept;
    }));
  }

  async discardOldDataDir(): Promise<void> {
    await discardOldCopies(this.dataDir, this.#log);
  }

  // ---------------------------------------------------------------- parameters

  #parametersKey: string | null = null;

  async applyParameters(parameters: Readonly<Record<string, string | number | boolean>>): Promise<boolean> {
    const key = JSON.stringify(Object.entries(parameters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (key === this.#parametersKey) return false;
    const first = this.#parametersKey === null;
    this.#parametersKey = key;
    this.#conf.clusterParameters = { ...parameters };
    if (!(await isInitialized(this.dataDir))) return true;
    try {
      await this.#conf.write();
      if (this.#postmaster.pm?.alive) {
        await withConnection(this.#layout.actionConnection(5000), this.#clock, (client) => client.query('SELECT pg_reload_conf()'));
      }
    } catch (err) {
      this.#parametersKey = null; // not applied: try again at the next call
      throw err;
    }
    const overridden = Object.keys(parameters).filter((k) => Object.keys(this.#pg.parameters).some((l) => l.toLowerCase() === k.toLowerCase()));
    this.#log[first ? 'debug' : 'info']({ parameters, overridden_by_node: overridden },
      'cluster-wide PostgreSQL parameters applied (postgresql.conf rewritten and reloaded; restart-only changes show as pending_restart)');
    return true;
  }

  /** Check the configured credentials against the running server now (also done every minute by probe()). */
  checkCredentials(): Promise<void> {
    return this.#observer.checkCredentials();
  }

  // ---------------------------------------------------------------- roles

  async configureStandby(upstream: Upstream | null): Promise<void> {
    return this.#serial('configureStandby', async () => {
      this.#conf.upstream = upstream;
      await this.#conf.write();
      await this.#layout.writeStandbySignal();
      this.#log.info({ upstream: upstream?.name ?? null }, 'configured as standby');
    });
  }

  async configurePrimary(): Promise<void> {
    return this.#serial('configurePrimary', async () => {
      this.#conf.upstream = null;
      await this.#conf.write();
      await removeIfExists(path.join(this.dataDir, 'standby.signal'));
      await removeIfExists(path.join(this.dataDir, 'recovery.signal'));
      this.#log.info('configured as primary');
    });
  }

  async follow(upstream: Upstream): Promise<void> {
    return this.#serial('follow', async () => {
      if (!this.#postmaster.pm?.alive) {
        // Not running: the same effect at the next start.
        this.#conf.upstream = upstream;
        await this.#conf.write();
        await this.#layout.writeStandbySignal();
        this.#log.info({ upstream: upstream.name }, 'follow: postgres not running, configured for the next start');
        return;
      }
      await withConnection(this.#layout.actionConnection(5000), this.#clock, async (client) => {
        const r = await client.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
        if (!r.rows[0]?.rec) throw new Error('postgres runs as a primary; demote it (stop, configureStandby, start) instead');
        this.#conf.upstream = upstream;
        await this.#conf.write();
        await this.#layout.writeStandbySignal();
        this.#observer.upstreamLogMark = await this.#layout.logSize();
        await client.query('SELECT pg_reload_conf()');
      });
      this.#log.info({ upstream: upstream.name, host: upstream.host, port: upstream.port }, 'following new upstream (reload)');
    });
  }

  async promote(): Promise<void> {
    return this.#serial('promote', async () => {
      const wait = this.#opts.promoteWaitSeconds;
      // pg_promote(wait => true) polls every 100 ms; signal it and poll every 10 ms instead.
      const ok = await withConnection(this.#layout.actionConnection((wait + 5) * 1000), this.#clock, async (client) => {
        const r = await client.query<{ ok: boolean }>('SELECT pg_promote(false) AS ok');
        if (r.rows[0]?.ok !== true) return false;
        const until = this.#clock.now() + wait * 1000;
        while (this.#clock.now() < until) {
          const rec = await client.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
          if (rec.rows[0]?.rec === false) return true;
          await sleep(this.#clock, 10);
        }
        return false;
      });
      if (!ok) throw new Error(`pg_promote did not complete within ${wait} s`);
      this.#conf.upstream = null;
      await this.#conf.write(); // no primary_conninfo any more; PostgreSQL removed standby.signal
      this.#log.info('promoted');
    });
  }

  /**
   * Set synchronous_standby_names (and reload a running server). Resolves true when it changed.
   * The value is kept in our postgresql.conf, so it survives restarts of PostgreSQL and the agent.
   */
  async setSynchronousStandbyNames(value: string): Promise<boolean> {
    if (this.#conf.ssn === null) await this.#conf.write();
    if (this.#conf.ssn === value) return false;
    this.#conf.ssn = value;
    await this.#conf.write();
    if (this.#postmaster.pm?.alive) {
      await withConnection(this.#layout.actionConnection(5000), this.#clock, (client) => client.query('SELECT pg_reload_conf()'));
    }
    this.#log.info({ synchronous_standby_names: value }, 'synchronous_standby_names set');
    return true;
  }

  async peerReceivedLsn(peer: Upstream): Promise<Lsn | null> {
    try {
      return await withConnection({
        host: peer.host, port: peer.port, user: this.#pg.superuser.username, database: 'postgres',
        ...(this.#pg.superuser.password ? { password: this.#pg.superuser.password } : {}),
        application_name: 'pgwarden', connectionTimeoutMillis: 1000, statement_timeout: 1000, query_timeout: 2000,
      }, this.#clock, async (client) => {
        const r = await client.query<{ lsn: string | null }>('SELECT pg_last_wal_receive_lsn()::text AS lsn');
        const text = r.rows[0]?.lsn;
        return text ? parseLsn(text) : null;
      });
    } catch (err) {
      this.#log.debug({ peer: peer.name, err: (err as Error).message }, 'could not read the peer\'s received position');
      return null;
    }
  }

  async setUseSlots(on: boolean): Promise<void> {
    if (this.#conf.useSlots === on) return;
    this.#conf.useSlots = on;
    if (!(await isInitialized(this.dataDir))) return;
    await this.#conf.write();
    if (this.#postmaster.pm?.alive) {
      await withConnection(this.#layout.actionConnection(5000), this.#clock, (client) => client.query('SELECT pg_reload_conf()'));
    }
    this.#log.info({ use_slots: on }, 'replication slot use changed');
  }

  async checkpoint(): Promise<void> {
    await withConnection(this.#layout.actionConnection(60_000), this.#clock, (client) => client.query('CHECKPOINT'));
  }

  async reloadConfig(): Promise<void> {
    if (!this.#postmaster.pm?.alive) return;
    await this.#conf.write();
    await withConnection(this.#layout.actionConnection(5000), this.#clock, (client) => client.query('SELECT pg_reload_conf()'));
  }

  async syncSlots(names: readonly string[]): Promise<void> {
    await withConnection(this.#layout.actionConnection(5000), this.#clock, (client) => syncPhysicalSlots(client, names, this.#log));
  }
}
