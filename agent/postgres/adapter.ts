// PostgresAdapter: the local PostgreSQL behind the PostgresNode port. It composes the small
// modules next to it (conf, control, probe, bootstrap, rewind, slots, controldata) and owns the
// state that spans calls: the postmaster handle, the configured upstream, the probe connection.
import { parseSynchronousStandbyNames } from './conf.js';
import { accessSync, constants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { AgentConfig } from '../config/types.js';
import type { Lsn, PgView } from '../core/types.js';
import { parseLsn } from '../core/lsn.js';
import { fnv1a } from '../core/slots.js';
import type { Logger } from '../log.js';
import { sleep, systemClock, type Clock } from '../clock.js';
import type { PostgresNode, ReplicationRow, RewindOutcome, Upstream } from '../ports/ports.js';
import { ensureRoles, runBasebackup, runInitdb } from './bootstrap.js';
import { BASE_CONF, CONF_MARKER, parseUpstream, renderHba, renderPgpass, renderPostgresqlConf } from './conf.js';
import {
  Postmaster, StartAborted, findSetpriv, readLogSince, readiness, spawnPostmaster, stopPostmaster,
  waitForOrphans, waitReady,
} from './control.js';
import { readControlData, type ControlData } from './controldata.js';
import { tail, type Owner } from './exec.js';
import {
  chownTo, exists, isInitialized, isMissingOrEmpty, mkdirOwned, readTextIfExists, removeIfExists, writeOwnedFile,
} from './fsutil.js';
import { classifyPid, postgresProcessesIn, readPidFile } from './procfs.js';
import { PROBE_SQL, timelineForkedBehindUs, viewFromProbe, walRefusedAsDiverged, type ProbeRow } from './probe.js';
import { ensureSourceCheckpoint, runRewind } from './rewind.js';
import { syncPhysicalSlots } from './slots.js';
export { osUserIds } from './users.js';
import { ProbeConnection, withConnection, type ConnConfig } from './sql.js';

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

const SHM_BUSY = /pre-existing shared memory block .* is still in use/;
const MAX_START_ATTEMPTS = 20;
const PG_CONTROL_PATH = ['global', 'pg_control'];

/** Nearest existing ancestor of `p` (p itself included). */
function nearestExisting(p: string): string {
  let cur = p;
  for (;;) {
    try {
      accessSync(cur, constants.F_OK);
      return cur;
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return cur;
      cur = up;
    }
  }
}

function canWriteUnder(p: string): boolean {
  try {
    accessSync(nearestExisting(p), constants.W_OK);
    return true;
  } catch {
    return false;
  }
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
  readonly #logFileOption: string | undefined;
  #logFile: string | null = null;

  #pm: Postmaster | null = null;
  #crashed = false;
  #stopGeneration = 0;
  #lastStopMode: 'fast' | 'immediate' = 'fast';
  readonly #exitListeners: ((code: number | null, signal: string | null) => void)[] = [];
  /** Upstream written in our conf; undefined until read from disk. */
  #upstream: Upstream | null | undefined = undefined;
  /** Whether replicas stream through a slot (dynamic config use_slots). */
  #useSlots = true;
  /** synchronous_standby_names we manage; null until read from our postgresql.conf. */
  #ssn: string | null = null;
  /** A data-dir operation (initdb, pg_basebackup, pg_rewind, removal) is running. */
  #busy: string | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #probeConn: ProbeConnection;
  readonly #clock: Clock;
  readonly #warned = new Set<string>();
  #controlCache: { key: string; data: ControlData } | null = null;
  #lastReplication: ReplicationRow[] = [];
  /** Server log size when the upstream last changed: older WAL receiver errors are not about it. */
  #upstreamLogMark = 0;

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
    this.#logFileOption = opts.logFile;
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
    this.dataDir = path.resolve(opts.pg.data_dir);
    const sibling = `${this.dataDir}.run`;
    const fits = Buffer.byteLength(`${sibling}/.s.PGSQL.${opts.pg.port}.lock`) < 100;
    this.runDir = fits && (uid === 0 || canWriteUnder(path.dirname(this.dataDir)))
      ? sibling
      : `/tmp/pgwarden-${this.#owner?.uid ?? uid}-${fnv1a(this.dataDir)}`;
    this.#probeConn = new ProbeConnection({
      ...this.localConnection(),
      connectionTimeoutMillis: 1000,
      statement_timeout: 1000,
      query_timeout: 2000,
      keepAlive: true,
    }, this.#log);
  }

  // ---------------------------------------------------------------- paths & connections

  /** Unix-socket connection to the local server as the superuser (trust over the 0700 socket). */
  localConnection(): ConnConfig {
    return {
      host: this.runDir,
      port: this.#pg.port,
      user: this.#pg.superuser.username,
      ...(this.#pg.superuser.password ? { password: this.#pg.superuser.password } : {}),
      database: 'postgres',
      application_name: 'pgwarden',
    };
  }

  /** The postmaster's log file (resolved at the first start). */
  get logFile(): string {
    return this.#logFile ?? this.#logFileOption ?? `${this.dataDir}.postgresql.log`;
  }

  get #passfile(): string | null {
    const any = this.#pg.superuser.password || this.#pg.replication.password;
    return any ? path.join(this.runDir, 'pgpass') : null;
  }

  #actionConnection(statementTimeoutMs: number): ConnConfig {
    return {
      ...this.localConnection(),
      connectionTimeoutMillis: 2000,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + 2000,
    };
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

  #warnOnce(messages: readonly string[]): void {
    for (const m of messages) {
      if (this.#warned.has(m)) continue;
      this.#warned.add(m);
      this.#log.warn(m);
    }
  }

  async #requireInitialized(): Promise<void> {
    if (!(await isInitialized(this.dataDir))) throw new Error(`data dir ${this.dataDir} is not initialized`);
  }

  async #requireStopped(): Promise<void> {
    if (this.#pm?.alive || (await this.#findRunning())) throw new Error('postgres is running; stop it first');
    const rest = await postgresProcessesIn(this.dataDir);
    if (rest.length > 0) throw new Error(`postgres processes ${rest.join(',')} still work in ${this.dataDir}`);
  }

  // ---------------------------------------------------------------- files

  /** Every existing ancestor of `dir` must let the PostgreSQL OS user through. */
  async #checkTraversable(dir: string): Promise<void> {
    if (!this.#owner) return;
    const { uid, gid } = this.#owner;
    const parts = path.resolve(dir).split(path.sep).filter(Boolean);
    let cur = '/';
    for (const part of ['', ...parts]) {
      cur = part ? path.join(cur, part) : cur;
      const st = await fs.stat(cur).catch(() => null);
      if (!st) return;
      const ok = st.uid === uid ? (st.mode & 0o100) !== 0 : st.gid === gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
      if (!ok) throw new Error(`the PostgreSQL OS user (uid ${uid}) cannot enter ${cur}; chown or chmod it`);
    }
  }

  /** An empty data dir (an existing one may be a mount point): 0700, owned by the OS user. */
  async #prepareEmptyDataDir(): Promise<void> {
    await mkdirOwned(this.dataDir, 0o700, this.#owner);
    await fs.chmod(this.dataDir, 0o700);
    await chownTo(this.dataDir, this.#owner);
  }

  async #ensureRunDir(): Promise<void> {
    await mkdirOwned(this.runDir, 0o700, this.#owner);
    const st = await fs.lstat(this.runDir);
    const want = this.#owner?.uid ?? process.getuid?.();
    if (!st.isDirectory() || st.uid !== want) {
      throw new Error(`${this.runDir} must be a directory owned by uid ${want} (refusing a foreign or linked path)`);
    }
    if ((st.mode & 0o777) !== 0o700) await fs.chmod(this.runDir, 0o700);
    const pgpass = renderPgpass([this.#pg.replication, this.#pg.superuser]);
    if (pgpass) await writeOwnedFile(path.join(this.runDir, 'pgpass'), pgpass, 0o600, this.#owner);
    else await removeIfExists(path.join(this.runDir, 'pgpass'));
  }

  async #currentUpstream(): Promise<Upstream | null> {
    if (this.#upstream === undefined) {
      const text = await readTextIfExists(path.join(this.dataDir, 'postgresql.conf'));
      this.#upstream = text && text.startsWith(CONF_MARKER) ? parseUpstream(text) : null;
    }
    return this.#upstream;
  }

  /** (Re)write postgresql.conf and pg_hba.conf; initdb's original conf is kept as postgresql.base.conf. */
  async #writeConfig(): Promise<void> {
    await this.#requireInitialized();
    await this.#ensureRunDir();
    const conf = path.join(this.dataDir, 'postgresql.conf');
    const base = path.join(this.dataDir, BASE_CONF);
    const current = await readTextIfExists(conf);
    const ours = current !== null && current.startsWith(CONF_MARKER);
    if (!(await exists(base))) {
      if (current !== null && !ours) {
        await fs.rename(conf, base);
      } else {
        this.#log.warn(`${BASE_CONF} is missing; writing an empty one`);
        await writeOwnedFile(base, '# initdb\'s postgresql.conf was missing when pgwarden took over\n', 0o600, this.#owner);
      }
    } else if (current !== null && !ours) {
      this.#log.warn({ file: conf }, 'postgresql.conf was replaced by something else; pgwarden rewrites it (settings belong in postgresql.parameters)');
    }
    const upstream = await this.#currentUpstream();
    // Keep what the last run managed until the HA loop says otherwise: a primary restarted in
    // synchronous mode must not acknowledge commits asynchronously in between (rule 5).
    this.#ssn ??= current !== null && ours ? parseSynchronousStandbyNames(current) : '';
    const rendered = renderPostgresqlConf({
      name: this.name, pg: this.#pg, socketDir: this.runDir, passfile: this.#passfile, upstream,
      synchronousStandbyNames: this.#ssn,
      useSlots: this.#useSlots,
    });
    const hba = renderHba(this.#pg);
    this.#warnOnce([...rendered.warnings, ...hba.warnings]);
    await writeOwnedFile(conf, rendered.text, 0o600, this.#owner);
    await writeOwnedFile(path.join(this.dataDir, 'pg_hba.conf'), hba.text, 0o600, this.#owner);
  }

  async #writeStandbySignal(): Promise<void> {
    await writeOwnedFile(path.join(this.dataDir, 'standby.signal'), '', 0o600, this.#owner);
    await removeIfExists(path.join(this.dataDir, 'recovery.signal'));
  }

  async #resolveLogFile(): Promise<string> {
    if (this.#logFile) return this.#logFile;
    const candidates = this.#logFileOption
      ? [this.#logFileOption]
      : [`${this.dataDir}.postgresql.log`, path.join(this.dataDir, 'pgwarden.postgresql.log')];
    for (const c of candidates) {
      try {
        const h = await fs.open(c, 'a', 0o640);
        await h.close();
        if (this.#owner) await fs.chown(c, this.#owner.uid, this.#owner.gid);
        this.#logFile = c;
        return c;
      } catch (err) {
        this.#log.warn({ file: c, err: (err as Error).message }, 'cannot write the postgres log file here');
      }
    }
    throw new Error(`no writable postgres log file among ${candidates.join(', ')}`);
  }

  // ---------------------------------------------------------------- the postmaster

  #attach(pm: Postmaster): void {
    this.#pm = pm;
    void pm.exited.then((info) => {
      this.#probeConn.close();
      if (pm.stopRequested || pm.starting) {
        this.#log.info({ postmaster: pm.pid, ...info }, 'postgres exited');
        return;
      }
      this.#crashed = true;
      this.#log.error({ postmaster: pm.pid, ...info, adopted: pm.adopted }, 'postgres exited unexpectedly');
      for (const listener of this.#exitListeners) {
        try {
          listener(info.code, info.signal);
        } catch (err) {
          this.#log.error({ err: (err as Error).message }, 'onUnexpectedExit listener threw');
        }
      }
    });
  }

  /** A live postmaster for our data dir: ours, or one a previous agent left (then adopted). */
  async #findRunning(): Promise<Postmaster | null> {
    if (this.#pm?.alive) return this.#pm;
    const pf = await readPidFile(this.dataDir);
    if (!pf) return null;
    if ((await classifyPid(pf.pid, this.dataDir)) !== 'ours') return null;
    const pm = new Postmaster(pf.pid, true, 0, this.#clock);
    pm.watch(50);
    this.#attach(pm);
    this.#log.info({ postmaster: pf.pid }, 'adopted a running postmaster');
    return pm;
  }

  /** Remove a postmaster.pid whose process is gone (or is now someone else), once no backend is left. */
  async #clearStalePidFile(): Promise<void> {
    const file = path.join(this.dataDir, 'postmaster.pid');
    if (!(await exists(file))) return;
    const pf = await readPidFile(this.dataDir);
    if (pf) {
      const cls = await classifyPid(pf.pid, this.dataDir);
      if (cls === 'ours') throw new Error(`postmaster ${pf.pid} is running`); // caller adopts first
      if (cls === 'unknown') {
        throw new Error(`postmaster.pid names live pid ${pf.pid} that cannot be inspected; refusing to start a second postmaster`);
      }
    }
    await waitForOrphans(this.dataDir, 5000, this.#log, this.#clock);
    await removeIfExists(file);
    this.#log.info({ stalePid: pf?.pid ?? null }, 'removed stale postmaster.pid');
  }

  async start(): Promise<void> {
    const gen = this.#stopGeneration;
    const aborted = (): boolean => gen !== this.#stopGeneration;
    return this.#serial('start', async () => {
      if (aborted()) throw new StartAborted('start aborted: stop() was called');
      await this.#requireInitialized();
      const now = (): number => this.#clock.now();
      const deadline = now() + this.#opts.startTimeoutMs;
      const running = await this.#findRunning();
      if (running) {
        this.#crashed = false;
        await waitReady(running, this.dataDir, deadline, this.#clock, aborted);
        return;
      }
      findSetpriv();
      await this.#clearStalePidFile();
      await this.#writeConfig();
      const logFile = await this.#resolveLogFile();
      for (let attempt = 1; ; attempt++) {
        const pm = await spawnPostmaster({ binDir: this.#pg.bin_dir, dataDir: this.dataDir, owner: this.#owner, logFile, clock: this.#clock });
        pm.starting = true;
        this.#attach(pm);
        this.#crashed = false;
        this.#log.info({ postmaster: pm.pid, attempt, logFile }, 'postgres spawned, waiting until it accepts connections');
        try {
          await waitReady(pm, this.dataDir, deadline, this.#clock, () => aborted() || pm.stopRequested);
          pm.starting = false;
          this.#log.info({ postmaster: pm.pid, ms: Math.round(now() - (deadline - this.#opts.startTimeoutMs)) }, 'postgres is ready');
          return;
        } catch (err) {
          pm.starting = false;
          if (err instanceof StartAborted) {
            if (pm.alive && !pm.stopRequested) {
              await stopPostmaster(pm, this.#lastStopMode, this.#opts.immediateStopTimeoutMs, this.dataDir, this.#log);
            }
            throw err;
          }
          if (pm.alive) {
            this.#log.warn({ postmaster: pm.pid, timeoutMs: this.#opts.startTimeoutMs }, 'postgres still not ready at the start deadline; left running');
            throw new Error(`postgres did not become ready within ${this.#opts.startTimeoutMs} ms (still starting, see ${logFile})`);
          }
          const out = await readLogSince(logFile, pm.logOffset);
          if (SHM_BUSY.test(out) && attempt < MAX_START_ATTEMPTS && now() + 300 < deadline) {
            this.#log.warn({ attempt }, 'old postgres processes still hold shared memory; retrying start');
            await sleep(this.#clock, 250);
            await waitForOrphans(this.dataDir, Math.max(0, Math.min(2000, deadline - now())), this.#log, this.#clock);
            continue;
          }
          const info = await pm.exited;
          throw new Error(`postgres exited while starting (${info.code ?? info.signal}): ${tail(out, 6)}`);
        }
      }
    });
  }

  async stop(mode: 'fast' | 'immediate'): Promise<void> {
    this.#stopGeneration++;
    this.#lastStopMode = mode;
    const pm = this.#pm?.alive ? this.#pm : (this.#busy ? null : await this.#findRunning());
    this.#probeConn.close();
    if (!pm) {
      this.#log.debug({ mode }, 'stop: postgres is not running');
      return;
    }
    this.#log.info({ mode, postmaster: pm.pid }, 'stopping postgres');
    const timeout = mode === 'fast' ? this.#opts.stopTimeoutMs : this.#opts.immediateStopTimeoutMs;
    await stopPostmaster(pm, mode, timeout, this.dataDir, this.#log);
    this.#log.info({ mode, postmaster: pm.pid }, 'postgres stopped');
  }

  onUnexpectedExit(listener: (code: number | null, signal: string | null) => void): void {
    this.#exitListeners.push(listener);
  }

  // ---------------------------------------------------------------- probe

  async #controlData(): Promise<ControlData | null> {
    try {
      const st = await fs.stat(path.join(this.dataDir, ...PG_CONTROL_PATH));
      const key = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (this.#controlCache?.key === key) return this.#controlCache.data;
      const data = await readControlData(this.#pg.bin_dir, this.dataDir, this.#owner, this.#clock);
      this.#controlCache = { key, data };
      return data;
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'pg_controldata unavailable');
      return null;
    }
  }

  async #processState(): Promise<PgView['process']> {
    const pm = this.#pm?.alive ? this.#pm : (this.#busy ? null : await this.#findRunning());
    if (!pm) return this.#crashed ? 'crashed' : 'stopped';
    return (await readiness(this.dataDir, pm.pid)) === 'ready' ? 'running' : 'starting';
  }

  /**
   * A replica whose WAL receiver is down reports the timeline of its last restartpoint, which
   * can be older than the timeline it already follows (its upstream promoted, then died). The
   * newest timeline history file in pg_wal is what it follows: use the larger of the two.
   */
  async #withKnownTimeline(view: PgView): Promise<PgView> {
    if (view.role !== 'replica') return view;
    let newest = 0;
    try {
      for (const f of await fs.readdir(path.join(this.dataDir, 'pg_wal'))) {
        const m = /^([0-9A-F]{8})\.history$/.exec(f);
        if (m) newest = Math.max(newest, parseInt(m[1]!, 16));
      }
    } catch {
      return view;
    }
    return newest > (view.timeline ?? 0) ? { ...view, timeline: newest } : view;
  }

  /**
   * A replica that does not stream: did its upstream refuse our WAL as diverged? Read from the
   * server log since this postmaster started and the upstream last changed (the reason is not
   * visible in SQL). With logging_collector on, or messages in another language, it stays unknown.
   */
  async #withDivergence(view: PgView): Promise<PgView> {
    if (view.role !== 'replica' || view.streaming || !this.#pm) return view;
    const log = await readLogSince(this.logFile, Math.max(this.#pm.logOffset, this.#upstreamLogMark));
    // The leader's timeline forked off ours before our replay position: we are still on ours
    // (the newer history file in pg_wal notwithstanding), and diverged; pg_rewind can fix it.
    const fork = timelineForkedBehindUs(log);
    if (fork) return { ...view, timeline: fork.current, walDiverged: true };
    return { ...view, walDiverged: walRefusedAsDiverged(log) };
  }

  async #logSize(): Promise<number> {
    return fs.stat(this.logFile).then((st) => st.size, () => 0);
  }

  async #reportedUpstream(): Promise<string | null> {
    if (!(await exists(path.join(this.dataDir, 'standby.signal')))) return null;
    return (await this.#currentUpstream())?.name ?? null;
  }

  async probe(): Promise<PgView> {
    const base: PgView = {
      dataDir: 'empty', process: 'stopped', role: null, systemId: null, timeline: null, walLsn: null,
      receivedLsn: null, replayedLsn: null, upstream: null, streaming: false, controlState: 'unknown', checkpointLsn: null,
    };
    try {
      if (!(await isInitialized(this.dataDir))) {
        return { ...base, process: this.#pm?.alive ? 'starting' : this.#crashed ? 'crashed' : 'stopped' };
      }
      const proc = await this.#processState();
      const upstream = await this.#reportedUpstream();
      if (proc === 'running') {
        try {
          const [row] = await this.#probeConn.query<ProbeRow>(PROBE_SQL);
          if (row) return await this.#withDivergence(await this.#withKnownTimeline(viewFromProbe(row, upstream)));
        } catch (err) {
          this.#log.debug({ err: (err as Error).message }, 'probe query failed');
        }
      } else {
        this.#probeConn.close();
      }
      const cd = await this.#controlData();
      return {
        ...base, dataDir: 'initialized', process: proc, upstream,
        systemId: cd?.systemId ?? null, timeline: cd?.timeline ?? null, controlState: cd?.state ?? 'unknown',
        checkpointLsn: cd?.checkpointLsn ?? null,
      };
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'probe failed');
      return { ...base, dataDir: 'initialized', process: this.#pm?.alive ? 'running' : 'stopped' };
    }
  }

  async replication(): Promise<ReplicationRow[]> {
    if (!this.#pm?.alive) return [];
    try {
      const rows = await this.#probeConn.query<{
        application_name: string; client_addr: string | null; state: string; sync_state: string; replay_lsn: string | null;
      }>(`SELECT application_name, host(client_addr) AS client_addr, state, sync_state, replay_lsn::text AS replay_lsn
            FROM pg_stat_replication ORDER BY application_name`);
      this.#lastReplication = rows.map((r) => ({ ...r, replay_lsn: r.replay_lsn === null ? null : parseLsn(r.replay_lsn) }));
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'pg_stat_replication query failed; returning the last rows');
    }
    return this.#lastReplication;
  }

  // ---------------------------------------------------------------- data dir lifecycle

  async initdb(): Promise<void> {
    return this.#serial('initdb', () => this.#dataDirOp('initdb', async () => {
      await this.#requireStopped();
      if (await isInitialized(this.dataDir)) throw new Error(`${this.dataDir} is already initialized`);
      if (!(await isMissingOrEmpty(this.dataDir))) throw new Error(`${this.dataDir} is not empty`);
      await this.#checkTraversable(path.dirname(this.dataDir));
      await this.#prepareEmptyDataDir();
      await this.#ensureRunDir();
      await runInitdb({
        binDir: this.#pg.bin_dir, dataDir: this.dataDir, owner: this.#owner, superuser: this.#pg.superuser.username,
        password: this.#pg.superuser.password, scratchDir: this.runDir, timeoutMs: this.#opts.initdbTimeoutMs, log: this.#log,
        clock: this.#clock,
      });
      this.#upstream = null;
      this.#controlCache = null;
      await removeIfExists(path.join(this.dataDir, 'standby.signal'));
      await this.#writeConfig();
    }));
  }

  async postBootstrap(): Promise<void> {
    return this.#serial('postBootstrap', () =>
      withConnection(this.#actionConnection(30_000), this.#clock, (client) => ensureRoles(client, this.#pg, this.#log)));
  }

  async basebackup(from: Upstream): Promise<void> {
    return this.#serial('basebackup', () => this.#dataDirOp('basebackup', async () => {
      await this.#requireStopped();
      if (!(await isMissingOrEmpty(this.dataDir))) throw new Error(`${this.dataDir} is not empty`);
      await this.#checkTraversable(path.dirname(this.dataDir));
      await this.#prepareEmptyDataDir();
      await this.#ensureRunDir();
      this.#controlCache = null;
      await runBasebackup({
        binDir: this.#pg.bin_dir, dataDir: this.dataDir, owner: this.#owner, from,
        replicationUser: this.#pg.replication.username, passfile: this.#passfile,
        timeoutMs: this.#opts.basebackupTimeoutMs, log: this.#log, clock: this.#clock,
      });
      // A fresh clone must never come up as a primary: it is a standby of its source until told otherwise.
      this.#upstream = from;
      await this.#writeConfig();
      await this.#writeStandbySignal();
    }));
  }

  async rewind(from: Upstream): Promise<RewindOutcome> {
    return this.#serial('rewind', () => this.#dataDirOp('rewind', async () => {
      await this.#requireInitialized();
      await this.#requireStopped();
      await this.#ensureRunDir();
      this.#controlCache = null;
      const previous = await this.#currentUpstream();
      try {
        await ensureSourceCheckpoint({
          host: from.host, port: from.port, user: this.#pg.superuser.username, database: 'postgres',
          ...(this.#pg.superuser.password ? { password: this.#pg.superuser.password } : {}),
          connectionTimeoutMillis: 5000, application_name: 'pgwarden_rewind',
        }, this.#log, this.#clock);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message, from: from.name }, 'cannot check the rewind source checkpoint');
      }
      const outcome = await runRewind({
        binDir: this.#pg.bin_dir, dataDir: this.dataDir, owner: this.#owner, from, superuser: this.#pg.superuser.username,
        passfile: this.#passfile, timeoutMs: this.#opts.rewindTimeoutMs, log: this.#log, clock: this.#clock,
      });
      // pg_rewind copied the source's config files: put ours back. A rewound (or already
      // consistent) former primary must only ever start as a standby of `from`.
      try {
        if (outcome === 'failed') {
          this.#upstream = previous;
          await this.#writeConfig();
        } else {
          this.#upstream = from;
          await this.#writeConfig();
          await this.#writeStandbySignal();
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
      await this.#requireStopped();
      await removeIfExists(this.dataDir);
      this.#upstream = null;
      this.#controlCache = null;
      this.#log.info({ dataDir: this.dataDir }, 'data dir removed');
    }));
  }

  // ---------------------------------------------------------------- roles

  async configureStandby(upstream: Upstream | null): Promise<void> {
    return this.#serial('configureStandby', async () => {
      this.#upstream = upstream;
      await this.#writeConfig();
      await this.#writeStandbySignal();
      this.#log.info({ upstream: upstream?.name ?? null }, 'configured as standby');
    });
  }

  async configurePrimary(): Promise<void> {
    return this.#serial('configurePrimary', async () => {
      this.#upstream = null;
      await this.#writeConfig();
      await removeIfExists(path.join(this.dataDir, 'standby.signal'));
      await removeIfExists(path.join(this.dataDir, 'recovery.signal'));
      this.#log.info('configured as primary');
    });
  }

  async follow(upstream: Upstream): Promise<void> {
    return this.#serial('follow', async () => {
      if (!this.#pm?.alive) {
        // Not running: the same effect at the next start.
        this.#upstream = upstream;
        await this.#writeConfig();
        await this.#writeStandbySignal();
        this.#log.info({ upstream: upstream.name }, 'follow: postgres not running, configured for the next start');
        return;
      }
      await withConnection(this.#actionConnection(5000), this.#clock, async (client) => {
        const r = await client.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
        if (!r.rows[0]?.rec) throw new Error('postgres runs as a primary; demote it (stop, configureStandby, start) instead');
        this.#upstream = upstream;
        await this.#writeConfig();
        await this.#writeStandbySignal();
        this.#upstreamLogMark = await this.#logSize();
        await client.query('SELECT pg_reload_conf()');
      });
      this.#log.info({ upstream: upstream.name, host: upstream.host, port: upstream.port }, 'following new upstream (reload)');
    });
  }

  async promote(): Promise<void> {
    return this.#serial('promote', async () => {
      const wait = this.#opts.promoteWaitSeconds;
      // pg_promote(wait => true) polls every 100 ms; signal it and poll every 10 ms instead.
      const ok = await withConnection(this.#actionConnection((wait + 5) * 1000), this.#clock, async (client) => {
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
      this.#upstream = null;
      await this.#writeConfig(); // no primary_conninfo any more; PostgreSQL removed standby.signal
      this.#log.info('promoted');
    });
  }

  /**
   * Set synchronous_standby_names (and reload a running server). Resolves true when it changed.
   * The value is kept in our postgresql.conf, so it survives restarts of PostgreSQL and the agent.
   */
  async setSynchronousStandbyNames(value: string): Promise<boolean> {
    if (this.#ssn === null) await this.#writeConfig();
    if (this.#ssn === value) return false;
    this.#ssn = value;
    await this.#writeConfig();
    if (this.#pm?.alive) {
      await withConnection(this.#actionConnection(5000), this.#clock, (client) => client.query('SELECT pg_reload_conf()'));
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
    if (this.#useSlots === on) return;
    this.#useSlots = on;
    if (!(await isInitialized(this.dataDir))) return;
    await this.#writeConfig();
    if (this.#pm?.alive) {
      await withConnection(this.#actionConnection(5000), this.#clock, (client) => client.query('SELECT pg_reload_conf()'));
    }
    this.#log.info({ use_slots: on }, 'replication slot use changed');
  }

  async checkpoint(): Promise<void> {
    await withConnection(this.#actionConnection(60_000), this.#clock, (client) => client.query('CHECKPOINT'));
  }

  async reloadConfig(): Promise<void> {
    if (!this.#pm?.alive) return;
    await this.#writeConfig();
    await withConnection(this.#actionConnection(5000), this.#clock, (client) => client.query('SELECT pg_reload_conf()'));
  }

  async syncSlots(names: readonly string[]): Promise<void> {
    await withConnection(this.#actionConnection(5000), this.#clock, (client) => syncPhysicalSlots(client, names, this.#log));
  }
}
