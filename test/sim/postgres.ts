// A simulated PostgreSQL per node: data directory (system id, WAL, control state, persisted
// synchronous_standby_names), postmaster state, primary/replica role, streaming replication with
// network delay, replay (which a fault can pause), promotion onto a new timeline, pg_rewind and
// pg_basebackup, and commits that in synchronous mode are acknowledged only once the named standby
// has the WAL.
//
// WAL is modelled as branches: every promotion starts a new branch forked from its parent at the
// promoted position, and a data directory is (branch, flushed position). Two data directories
// agree up to the point where their branch ancestries part; a former primary whose WAL goes past
// that point has diverged and cannot stream until it is rewound (losing the divergent tail).
import type { ControlState, PgView } from '../../agent/core/types.js';
import type { Scheduler } from './clock.js';
import type { Host, Network } from './network.js';
import type { Rng } from './rng.js';
import type { Trace } from './trace.js';

export interface WalRecord {
  readonly lsn: number;
  readonly end: number;
  /** The client write it carries, or null (checkpoint, timeline switch). */
  readonly writeId: number | null;
}

export class Branch {
  readonly records: WalRecord[] = [];
  /** End of the last record written on this branch. */
  end: number;

  constructor(readonly id: number, readonly tl: number, readonly parent: Branch | null, readonly fork: number) {
    this.end = fork;
  }

  append(size: number, writeId: number | null): WalRecord {
    const r: WalRecord = { lsn: this.end, end: this.end + size, writeId };
    this.records.push(r);
    this.end = r.end;
    return r;
  }
}

/** First WAL position at which the contents of branches x and y may differ. */
export function divergence(x: Branch, y: Branch): number {
  if (x === y) return Infinity;
  const fromY = new Map<Branch, number>();
  let dep = Infinity;
  for (let b: Branch | null = y; b; b = b.parent) {
    fromY.set(b, dep);
    dep = Math.min(dep, b.fork);
  }
  dep = Infinity;
  for (let b: Branch | null = x; b; b = b.parent) {
    const other = fromY.get(b);
    if (other !== undefined) return Math.min(dep, other);
    dep = Math.min(dep, b.fork);
  }
  return 0;
}

/** The WAL (x up to ex) is a prefix of the WAL (y up to ey). */
export function isPrefix(x: Branch, ex: number, y: Branch, ey: number): boolean {
  return ex <= ey && divergence(x, y) >= ex;
}

/** Ids of the client writes contained in the WAL of branch b up to `end`. */
export function writeIdsUpTo(b: Branch, end: number): number[] {
  const out: number[] = [];
  let limit = end;
  for (let br: Branch | null = b; br; br = br.parent) {
    for (const r of br.records) {
      if (r.end > limit) break;
      if (r.writeId !== null) out.push(r.writeId);
    }
    limit = Math.min(limit, br.fork);
  }
  return out;
}

export interface PgData {
  readonly systemId: string;
  branch: Branch;
  /** Flushed (primary) or received (replica) WAL end. */
  flush: number;
  replay: number;
  controlState: ControlState;
  /** synchronous_standby_names (postgresql.auto.conf: survives restarts). */
  ssn: string;
  /** Start of the last shutdown checkpoint record (pg_controldata's "Latest checkpoint location"). */
  checkpoint?: number;
}

export type PgProcess = 'running' | 'starting' | 'stopping' | 'stopped' | 'crashed';
export type Done<T = void> = (err: string | null, value?: T) => void;

/** What the simulated PostgreSQL needs from the world around it. */
export interface PgEnv {
  readonly sched: Scheduler;
  readonly net: Network;
  readonly rng: Rng;
  readonly trace: Trace;
  readonly systemId: string;
  readonly sabotage: ReadonlySet<string>;
  /** wal_receiver_timeout / wal_sender_timeout, ms. */
  readonly replicationTimeoutMs: number;
  pg(name: string): SimPostgres | undefined;
  newBranch(tl: number, parent: Branch | null, fork: number): Branch;
  /** A promotion (or end of recovery) is about to start: the eligibility check hooks here. */
  promoting(pg: SimPostgres, how: 'promote' | 'end-of-recovery'): void;
  /** A primary shut down cleanly (fast stop). */
  primaryStopped(pg: SimPostgres): void;
  /** The server became a writable primary. */
  becamePrimary(pg: SimPostgres, how: 'bootstrap' | 'promote' | 'end-of-recovery' | 'restart'): void;
}

interface Conn {
  readonly id: number;
  readonly up: SimPostgres;
  readonly down: SimPostgres;
  lastArrival: number;
  lastHeard: number;
  lastFeedback: number;
  closed: boolean;
}

interface Commit {
  readonly end: number;
  readonly done: (ok: boolean) => void;
}

/** synchronous_standby_names as PostgreSQL reads it: '' (none), '*' (any), FIRST k ("a", "b") or a list. */
export function parseSsn(ssn: string): { k: number; any: boolean; names: string[] } {
  const t = ssn.trim();
  if (t === '') return { k: 0, any: false, names: [] };
  if (t === '*') return { k: 1, any: true, names: [] };
  const m = /^(?:FIRST\s+(\d+)\s*\((.*)\)|(\d+)\s*\((.*)\))$/i.exec(t);
  const body = m ? (m[2] ?? m[4] ?? '') : t;
  const names = body.split(',').map((x) => x.trim().replace(/^"(.*)"$/, '$1').replace(/""/g, '"')).filter((x) => x !== '');
  const k = m ? Number(m[1] ?? m[3]) : 1;
  if (names.includes('*')) return { k, any: true, names: [] };
  return { k, any: false, names };
}

const STANDBY_STATES: readonly ControlState[] = ['shut down in recovery', 'in archive recovery'];
/** The walsender's refusals of a standby whose WAL is not in its history. */
const AHEAD = 'requested starting point is ahead of the upstream';
const DIVERGED = ': WAL diverged';
const TICK_MS = 1000;
let connIds = 0;

export class SimPostgres {
  process: PgProcess = 'stopped';
  role: 'primary' | 'replica' | null = null;
  data: PgData | null = null;
  /** standby.signal + primary_conninfo for the next start; null: start as a primary. */
  standby: { upstream: string | null } | null = null;
  replayPaused = false;
  hostUp = true;
  /** Called when the postmaster dies without being asked to (the agent's child watch). */
  onUnexpectedExit: (() => void) | null = null;

  #epoch = 0;
  #promoting = false;
  #recv: Conn | null = null;
  #connecting = 0;
  /**
   * The upstream's last answer to our WAL receiver refused our WAL as not in its history (the
   * server log line the adapter reads for PgView.walDiverged); cleared by streaming, another
   * failure, a restart or a new upstream.
   */
  #refusedAsDiverged = false;
  readonly #senders = new Map<string, Conn>();
  readonly #standbyFlush = new Map<string, number>();
  readonly #standbyReplay = new Map<string, number>();
  #pending: Commit[] = [];

  constructor(readonly name: string, readonly host: Host, private readonly env: PgEnv) {}

  get writable(): boolean {
    return this.process === 'running' && this.role === 'primary';
  }

  get streaming(): boolean {
    return this.#recv !== null;
  }

  get upstream(): string | null {
    return this.standby?.upstream ?? null;
  }

  #log(what: string, quiet = false): void {
    this.env.trace.log(this.name, `pg: ${what}`, quiet);
  }

  /** Run `fn` after a random delay unless the server restarted/stopped meanwhile (then `interrupted`). */
  #later(lo: number, hi: number, fn: () => void, interrupted?: () => void): void {
    const epoch = this.#epoch;
    this.env.sched.after(this.env.rng.int(lo, hi), () => {
      if (epoch === this.#epoch && this.hostUp) fn();
      else interrupted?.();
    });
  }

  // --- what the agent asks for -------------------------------------------------------------

  probe(): PgView {
    const d = this.data;
    const running = this.process === 'running';
    // While shutting down the postmaster is alive but not ready: the adapter reports 'starting'.
    const proc: PgView['process'] = this.process === 'stopping' ? 'starting' : this.process;
    const primary = running && this.role === 'primary';
    const replica = running && this.role === 'replica';
    return {
      dataDir: d ? 'initialized' : 'empty',
      process: d ? proc : this.process === 'crashed' ? 'crashed' : 'stopped',
      role: running ? this.role : null,
      systemId: d?.systemId ?? null,
      timeline: d?.branch.tl ?? null,
      walLsn: primary ? d!.flush : null,
      receivedLsn: replica ? d!.flush : null,
      replayedLsn: replica ? d!.replay : null,
      upstream: d && this.standby ? this.standby.upstream : null,
      streaming: replica && this.#recv !== null,
      controlState: running ? (primary ? 'in production' : 'in archive recovery') : d?.controlState ?? 'unknown',
      checkpointLsn: d?.checkpoint ?? null,
      ...(replica && this.#recv === null ? { walDiverged: this.#refusedAsDiverged } : {}),
    };
  }

  initdb(done: Done): void {
    if (this.data || this.process !== 'stopped') return done('initdb: data directory is not empty');
    this.#later(400, 1500, () => {
      const branch = this.env.newBranch(1, null, 0);
      branch.append(4096, null);
      this.data = { systemId: this.env.systemId, branch, flush: branch.end, replay: branch.end, controlState: 'shut down', ssn: '' };
      this.#log('initdb done (timeline 1)');
      done(null);
    }, () => done('initdb: interrupted'));
  }

  configureStandby(upstream: string | null): void {
    this.standby = { upstream };
  }

  configurePrimary(): void {
    this.standby = null;
  }

  start(done: Done): void {
    if (!this.data) return done('start: no data directory');
    if (this.process === 'running') return done(null);
    if (this.process === 'starting' || this.process === 'stopping') return done(`start: postmaster is ${this.process}`);
    this.process = 'starting';
    this.#epoch++;
    this.#refusedAsDiverged = false;
    const asStandby = this.standby !== null;
    this.#log(`starting as ${asStandby ? `standby of ${this.standby?.upstream ?? 'nobody'}` : 'primary'}`);
    this.#later(300, 1500, () => {
      const d = this.data!;
      this.process = 'running';
      if (asStandby) {
        this.role = 'replica';
        d.replay = Math.max(d.replay, d.flush);
        d.controlState = 'in archive recovery';
        this.#log(`running as replica on timeline ${d.branch.tl} at ${d.flush}`);
        this.#startTicks();
        this.#connect();
      } else {
        const fromStandby = STANDBY_STATES.includes(d.controlState);
        if (fromStandby) {
          // Starting a standby's data without standby.signal ends recovery: a new timeline.
          this.env.promoting(this, 'end-of-recovery');
          this.#newTimeline();
        } else if (d.flush !== d.branch.end) {
          // Someone else extended this branch meanwhile: our next records fork from it.
          d.branch = this.env.newBranch(d.branch.tl, d.branch, d.flush);
        }
        this.role = 'primary';
        d.controlState = 'in production';
        this.#log(`running as PRIMARY on timeline ${d.branch.tl} at ${d.flush}`);
        this.#startTicks();
        this.env.becamePrimary(this, fromStandby ? 'end-of-recovery' : 'restart');
      }
      done(null);
    }, () => done('start: postmaster exited during startup'));
  }

  stop(mode: 'fast' | 'immediate', done: Done): void {
    if (this.process === 'stopped' || this.process === 'crashed') {
      this.process = 'stopped';
      return done(null);
    }
    const wasPrimary = this.role === 'primary';
    const wasStandby = this.role === 'replica' || (this.process === 'starting' && this.standby !== null);
    if (mode === 'fast' && this.writable && this.data) {
      // A clean shutdown writes a shutdown checkpoint, and the walsenders send every record,
      // this one included, to the connected standbys before they exit.
      const d = this.data;
      if (d.flush !== d.branch.end) d.branch = this.env.newBranch(d.branch.tl, d.branch, d.flush);
      const rec = d.branch.append(114, null);
      d.flush = rec.end;
      d.checkpoint = rec.lsn;
      this.#pushAll();
    }
    this.#halt('eof', `stopping (${mode})`);
    this.process = 'stopping';
    this.#later(mode === 'immediate' ? 10 : 100, mode === 'immediate' ? 80 : 600, () => {
      this.process = 'stopped';
      if (mode === 'fast' && this.data) this.data.controlState = wasPrimary || !wasStandby ? 'shut down' : 'shut down in recovery';
      this.#log('stopped');
      if (mode === 'fast' && wasPrimary) this.env.primaryStopped(this);
      done(null);
    }, () => done(null));
  }

  promote(done: Done): void {
    if (!(this.process === 'running' && this.role === 'replica')) return done(`promote: not a running replica (${this.process})`);
    this.env.promoting(this, 'promote');
    this.#promoting = true;
    this.#closeRecv('promotion');
    const d = this.data!;
    const backlog = Math.max(0, d.flush - d.replay);
    this.#log(`promoting (replay backlog ${backlog} bytes)`);
    const epoch = this.#epoch;
    this.env.sched.after(this.env.rng.int(150, 700) + Math.ceil(backlog / 50_000), () => {
      if (epoch === this.#epoch) this.#promoting = false;
      if (epoch !== this.#epoch || !this.hostUp || this.process !== 'running' || this.role !== 'replica') {
        return done('promote: server went away');
      }
      this.#newTimeline();
      this.role = 'primary';
      d.controlState = 'in production';
      this.#log(`PROMOTED: timeline ${d.branch.tl} forked at ${d.branch.fork}`);
      this.env.becamePrimary(this, 'promote');
      this.#pushAll();
      done(null);
    });
  }

  /** Point a running standby at another upstream (reload primary_conninfo). */
  follow(upstream: string, done: Done): void {
    this.standby = { upstream };
    this.#refusedAsDiverged = false;
    if (this.process !== 'running' || this.role !== 'replica') return done(null);
    this.#closeRecv(`re-pointed to ${upstream}`);
    this.#later(10, 60, () => {
      this.#connect();
      done(null);
    }, () => done('follow: server went away'));
  }

  rewind(source: string, done: Done<'rewound' | 'not_needed' | 'failed'>): void {
    if (!this.data || this.process !== 'stopped') return done(null, 'failed');
    const epoch = this.#epoch;
    this.env.sched.after(this.env.rng.int(400, 2500), () => {
      if (epoch !== this.#epoch || !this.hostUp) return done('rewind: interrupted');
      const src = this.env.pg(source);
      const d = this.data;
      if (d && src?.data && src.data.systemId !== d.systemId) {
        this.#log(`pg_rewind against ${source} failed: source and target clusters are from different systems`);
        return done(null, 'failed');
      }
      if (!d || !src?.data || src.process !== 'running' || !this.env.net.up(this.host, src.host)) {
        // As the real adapter: a failure that may pass rejects (the agent retries, never rebuilds on it).
        this.#log(`pg_rewind against ${source} failed: source unreachable`);
        return done('rewind: could not connect to the source server');
      }
      if (isPrefix(d.branch, d.flush, src.data.branch, src.data.flush)) {
        this.#log(`pg_rewind against ${source}: not needed`);
        return done(null, 'not_needed');
      }
      if (d.branch.tl === src.data.branch.tl) {
        // As real pg_rewind: equal timeline IDs mean "nothing to do", whatever the WAL holds.
        this.#log(`pg_rewind against ${source}: source and target cluster are on the same timeline (${d.branch.tl}): no rewind required, although the WAL diverged`);
        return done(null, 'not_needed');
      }
      if (this.env.rng.chance(0.05)) {
        this.#log(`pg_rewind against ${source} failed (injected)`);
        return done(null, 'failed');
      }
      const common = Math.min(d.flush, src.data.flush, divergence(d.branch, src.data.branch));
      this.#log(`pg_rewind against ${source}: dropped ${d.flush - common} divergent bytes (timeline ${d.branch.tl} → ${src.data.branch.tl})`);
      d.branch = src.data.branch;
      d.flush = common;
      d.replay = common;
      d.controlState = 'in archive recovery';
      done(null, 'rewound');
    });
  }

  basebackup(source: string, done: Done): void {
    if (this.data) return done('basebackup: data directory is not empty');
    const epoch = this.#epoch;
    this.env.sched.after(this.env.rng.int(800, 3500), () => {
      if (epoch !== this.#epoch || !this.hostUp) return done('basebackup: interrupted');
      const src = this.env.pg(source);
      if (!src?.data || src.process !== 'running' || !this.env.net.up(this.host, src.host)) {
        return done(`basebackup: cannot reach a running ${source}`);
      }
      const s = src.data;
      this.data = { systemId: s.systemId, branch: s.branch, flush: s.flush, replay: s.flush, controlState: 'in archive recovery', ssn: '' };
      this.#log(`base backup from ${source} done (timeline ${s.branch.tl} at ${s.flush})`);
      done(null);
    });
  }

  removeDataDir(done: Done): void {
    if (this.process !== 'stopped' && this.process !== 'crashed') return done('removeDataDir: PostgreSQL is running');
    this.data = null;
    this.#log('data directory removed');
    done(null);
  }

  /**
   * ALTER SYSTEM SET synchronous_standby_names + pg_reload_conf(); `done(null, changed)`. The
   * setting persists in the data directory (postgresql.auto.conf).
   */
  setSynchronousStandbyNames(ssn: string, done: Done<boolean>): void {
    if (!this.data) return done('no data directory');
    if (this.data.ssn === ssn) return done(null, false);
    this.#later(5, 30, () => {
      if (!this.data) return done('no data directory');
      this.data.ssn = ssn;
      this.#log(`synchronous_standby_names = '${ssn}'`);
      this.#checkCommits();
      done(null, true);
    }, () => {
      if (this.data) this.data.ssn = ssn;
      done(null, true);
    });
  }

  /** The standbys PostgreSQL waits for now: FIRST k of the listed ones that are connected. */
  #syncSet(): { k: number; set: string[] } {
    const spec = parseSsn(this.data?.ssn ?? '');
    if (spec.k === 0) return { k: 0, set: [] };
    const connected = spec.any ? [...this.#senders.keys()].sort() : spec.names.filter((n) => this.#senders.has(n));
    return { k: spec.k, set: connected.slice(0, spec.k) };
  }

  /** pg_stat_replication: every walsender, its sync_state and the standby's reported replay position. */
  replication(): Array<{ application_name: string; state: string; sync_state: string; replay_lsn: number | null }> {
    const spec = parseSsn(this.data?.ssn ?? '');
    const { set } = this.#syncSet();
    return [...this.#senders.values()].map((c) => {
      const n = c.down.name;
      const listed = spec.any || spec.names.includes(n);
      return {
        application_name: n,
        state: 'streaming',
        sync_state: set.includes(n) ? 'sync' : listed && spec.k > 0 ? 'potential' : 'async',
        replay_lsn: this.#standbyReplay.get(n) ?? null,
      };
    }).sort((a, b) => (a.application_name < b.application_name ? -1 : 1));
  }

  // --- client writes -----------------------------------------------------------------------

  /** INSERT … COMMIT. `done(true)` when the commit is acknowledged, `done(false)` if it fails. */
  write(writeId: number, size: number, done: (ok: boolean) => void): void {
    if (!this.writable) return done(false);
    const d = this.data!;
    if (d.flush !== d.branch.end) d.branch = this.env.newBranch(d.branch.tl, d.branch, d.flush);
    const rec = d.branch.append(size, writeId);
    d.flush = rec.end;
    this.#pending.push({ end: rec.end, done });
    this.#pushAll();
    this.#checkCommits();
  }

  #checkCommits(): void {
    if (this.#pending.length === 0 || !this.data) return;
    let upTo = Infinity;
    const sync = this.#syncSet();
    if (sync.k > 0 && !this.env.sabotage.has('ack-without-standby')) {
      // Every standby PostgreSQL currently waits for must have flushed the commit.
      upTo = sync.set.length < sync.k ? -1 : Math.min(...sync.set.map((n) => this.#standbyFlush.get(n) ?? -1));
    }
    let k = 0;
    while (k < this.#pending.length && this.#pending[k]!.end <= upTo) k++;
    if (k === 0) return;
    const acked = this.#pending.splice(0, k);
    for (const c of acked) c.done(true);
  }

  #failCommits(): void {
    const p = this.#pending;
    this.#pending = [];
    for (const c of p) c.done(false);
  }

  // --- faults --------------------------------------------------------------------------------

  /** kill -9 of the postmaster: the agent sees its child exit. */
  crash(): void {
    if (this.process === 'stopped' || this.process === 'crashed') return;
    this.#halt('eof', 'CRASHED (killed)');
    this.process = 'crashed';
    this.onUnexpectedExit?.();
  }

  /** The whole machine goes down: nobody is told; peers time out. */
  hostCrash(): void {
    this.#halt('timeout', this.process === 'stopped' ? 'host down' : 'host down (postmaster gone)');
    this.process = 'stopped';
    this.hostUp = false;
    this.onUnexpectedExit = null;
  }

  hostBoot(): void {
    this.hostUp = true;
  }

  setReplayPaused(paused: boolean): void {
    this.replayPaused = paused;
    this.#log(paused ? 'replay PAUSED' : 'replay resumed');
    if (!paused && this.data && this.process === 'running' && this.role === 'replica') this.#scheduleReplay(this.data.flush);
  }

  // --- replication -----------------------------------------------------------------------------

  #halt(notice: 'eof' | 'timeout', why: string): void {
    this.#epoch++;
    this.role = null;
    this.#promoting = false;
    this.#failCommits();
    this.#log(why);
    for (const c of [...this.#senders.values()]) {
      this.#dropSender(c);
      if (notice === 'eof') this.#eof(c, 'down');
    }
    const r = this.#recv;
    if (r) {
      this.#recv = null;
      r.closed = true;
      if (notice === 'eof') this.#eof(r, 'up');
    }
    this.#connecting = 0;
  }

  /** Tell the other end of `c` (in direction `to`) that the connection closed. */
  #eof(c: Conn, to: 'up' | 'down'): void {
    const from = to === 'up' ? c.down : c.up;
    const dest = to === 'up' ? c.up : c.down;
    if (!this.env.net.up(from.host, dest.host)) return; // it will time out
    const at = Math.max(c.lastArrival, this.env.sched.now + this.env.net.latency(from.host, dest.host));
    this.env.sched.at(at, () => {
      if (to === 'up') dest.#dropSender(c);
      else dest.#dropRecv(c, `upstream ${from.name} closed the connection`);
    });
  }

  #dropSender(c: Conn): void {
    if (this.#senders.get(c.down.name) !== c) return;
    this.#senders.delete(c.down.name);
    this.#standbyFlush.delete(c.down.name);
    this.#standbyReplay.delete(c.down.name);
    this.#checkCommits();
  }

  #dropRecv(c: Conn, why: string): void {
    c.closed = true;
    if (this.#recv !== c) return;
    this.#recv = null;
    this.#log(`stopped streaming from ${c.up.name}: ${why}`);
  }

  #closeRecv(why: string): void {
    const r = this.#recv;
    this.#connecting = 0;
    if (!r) return;
    this.#dropRecv(r, why);
    this.#eof(r, 'up');
  }

  /** One tick per second while running: keepalives, timeouts, reconnects. */
  #startTicks(): void {
    const epoch = this.#epoch;
    const tick = (): void => {
      if (epoch !== this.#epoch || !this.hostUp || this.process !== 'running') return;
      const now = this.env.sched.now;
      const timeout = this.env.replicationTimeoutMs;
      for (const c of [...this.#senders.values()]) {
        if (now - c.lastFeedback > timeout) {
          this.#dropSender(c);
          this.#log(`walsender for ${c.down.name} timed out`, true);
        } else {
          this.#send(c);
        }
      }
      const r = this.#recv;
      if (r && now - r.lastHeard > timeout) this.#dropRecv(r, 'wal_receiver_timeout');
      if (!this.#recv && this.role === 'replica') this.#connect();
      this.env.sched.after(TICK_MS, tick);
    };
    this.env.sched.after(TICK_MS, tick);
  }

  /** The WAL receiver connects to the configured upstream (handshake over the network). */
  #connect(): void {
    const upName = this.standby?.upstream ?? null;
    if (this.process !== 'running' || this.role !== 'replica' || this.#recv || upName === null || this.#connecting || this.#promoting) return;
    const up = this.env.pg(upName);
    if (!up) return;
    const attempt = ++connIds;
    this.#connecting = attempt;
    const epoch = this.#epoch;
    const stale = (): boolean => epoch !== this.#epoch || this.#connecting !== attempt || this.standby?.upstream !== upName;
    this.env.sched.after(1000, () => {
      if (!stale()) this.#connecting = 0; // handshake lost: the next tick retries
    });
    this.env.net.send(this.host, up.host, () => {
      const verdict = up.#accept(this);
      if (verdict !== 'ok') {
        this.env.net.send(up.host, this.host, () => {
          if (stale()) return;
          this.#connecting = 0;
          this.#refusedAsDiverged = verdict === AHEAD || verdict.endsWith(DIVERGED);
          this.#log(`cannot stream from ${upName}: ${verdict}`, true);
        }, false);
        return;
      }
      const now = this.env.sched.now;
      const c: Conn = { id: attempt, up, down: this, lastArrival: now, lastHeard: now, lastFeedback: now, closed: false };
      const old = up.#senders.get(this.name);
      if (old) old.closed = true;
      up.#senders.set(this.name, c);
      this.env.net.send(up.host, this.host, () => {
        if (stale()) {
          up.#dropSender(c);
          return;
        }
        this.#connecting = 0;
        this.#refusedAsDiverged = false;
        c.lastHeard = this.env.sched.now;
        this.#recv = c;
        this.#log(`streaming from ${upName}`);
        up.#send(c);
      }, false);
    }, false);
  }

  /** May `down` stream from us? */
  #accept(down: SimPostgres): string {
    const mine = this.data;
    const theirs = down.data;
    if (this.process !== 'running' || !mine) return 'upstream not running';
    if (!theirs || theirs.systemId !== mine.systemId) return 'different system identifier';
    if (isPrefix(theirs.branch, theirs.flush, mine.branch, mine.flush)) return 'ok';
    if (divergence(theirs.branch, mine.branch) >= mine.flush) return AHEAD;
    return `timeline ${theirs.branch.tl} forked off timeline ${mine.branch.tl}${DIVERGED}`;
  }

  /** Ship our current position to one downstream (cumulative, so a resend is a retransmission). */
  #send(c: Conn): void {
    if (c.closed || this.#senders.get(c.down.name) !== c || !this.data) return;
    if (!this.env.net.up(this.host, c.down.host)) return;
    const at = Math.max(c.lastArrival, this.env.sched.now + this.env.net.latency(this.host, c.down.host));
    c.lastArrival = at;
    const branch = this.data.branch;
    const flush = this.data.flush;
    this.env.sched.at(at, () => {
      if (this.env.net.up(this.host, c.down.host)) c.down.#receive(c, branch, flush);
    });
  }

  #pushAll(): void {
    for (const c of this.#senders.values()) this.#send(c);
  }

  #receive(c: Conn, branch: Branch, flush: number): void {
    if (this.#recv !== c || !this.data) return;
    const d = this.data;
    c.lastHeard = this.env.sched.now;
    if (branch !== d.branch) {
      if (!isPrefix(d.branch, d.flush, branch, flush)) {
        this.#dropRecv(c, 'WAL diverged from upstream');
        this.#eof(c, 'up');
        return;
      }
      if (branch.tl !== d.branch.tl) this.#log(`following timeline switch to ${branch.tl}`, true);
      d.branch = branch;
    }
    if (flush > d.flush) {
      d.flush = flush;
      this.#scheduleReplay(flush);
      this.#pushAll();
    }
    this.#sendFeedback(c);
  }

  /** Standby status update: flush and replay positions back to the upstream. */
  #sendFeedback(c: Conn): void {
    if (!this.data) return;
    const flush = this.data.flush;
    const replay = this.data.replay;
    this.env.net.send(this.host, c.up.host, () => c.up.#feedback(c, flush, replay), false);
  }

  #feedback(c: Conn, flush: number, replay: number): void {
    if (this.#senders.get(c.down.name) !== c) return;
    c.lastFeedback = this.env.sched.now;
    this.#standbyFlush.set(c.down.name, flush);
    this.#standbyReplay.set(c.down.name, replay);
    this.#checkCommits();
  }

  #scheduleReplay(upTo: number): void {
    if (this.replayPaused) return;
    this.#later(1, 8, () => {
      if (!this.data || this.replayPaused || this.role !== 'replica') return;
      this.data.replay = Math.max(this.data.replay, Math.min(upTo, this.data.flush));
      if (this.#recv) this.#sendFeedback(this.#recv);
    });
  }

  #newTimeline(): void {
    const d = this.data!;
    d.replay = d.flush;
    const maxTl = d.branch.tl;
    d.branch = this.env.newBranch(maxTl + 1, d.branch, d.flush);
    d.branch.append(120, null); // end-of-recovery checkpoint on the new timeline
    d.flush = d.branch.end;
    d.replay = d.flush;
  }
}
