// What the node's PostgreSQL looks like now (the PgView the HA loop decides on) and who
// replicates from it: one probe query when it runs, pg_controldata when it does not, and the
// server log for the reason a replica does not stream.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../clock.js';
import type { AgentConfig } from '../config/types.js';
import { parseLsn } from '../core/lsn.js';
import type { PgView } from '../core/types.js';
import type { Logger } from '../log.js';
import type { ReplicationRow } from '../ports/ports.js';
import { readLogSince, readiness } from './control.js';
import { readControlData, type ControlData } from './controldata.js';
import { CredentialChecker } from './credentials.js';
import type { Owner } from './exec.js';
import { exists, isInitialized } from './fsutil.js';
import type { PgLayout } from './layout.js';
import type { ManagedConf } from './managed-conf.js';
import type { PostmasterKeeper } from './postmaster.js';
import { PROBE_SQL, timelineForkedBehindUs, viewFromProbe, walRefusedAsDiverged, type ProbeRow } from './probe.js';
import type { ProbeConnection } from './sql.js';

const PG_CONTROL_PATH = ['global', 'pg_control'];

export interface ObserverParts {
  readonly pg: AgentConfig['postgresql'];
  readonly owner: Owner | null;
  readonly layout: PgLayout;
  readonly conf: ManagedConf;
  readonly postmaster: PostmasterKeeper;
  readonly probeConn: ProbeConnection;
  /** A data-dir operation (initdb, pg_basebackup, pg_rewind, removal) is running. */
  readonly busy: () => boolean;
  readonly log: Logger;
  readonly clock: Clock;
}

export class PgObserver {
  readonly #p: ObserverParts;
  #controlCache: { key: string; data: ControlData } | null = null;
  #lastReplication: ReplicationRow[] = [];
  /** Server log size when the upstream last changed: older WAL receiver errors are not about it. */
  upstreamLogMark = 0;
  readonly #credentials: CredentialChecker;

  constructor(parts: ObserverParts) {
    this.#p = parts;
    this.#credentials = new CredentialChecker(parts.pg, parts.log, parts.clock);
  }

  /** Check the configured credentials against the running server now (tests, start-up). */
  checkCredentials(): Promise<void> {
    return this.#credentials.check();
  }

  /** A running server: check the credentials when due (in the background) and report the last result. */
  #withCredentials(view: PgView): PgView {
    const pm = this.#p.postmaster.pm;
    if (pm?.alive) this.#credentials.maybeCheck(pm.pid);
    const errors = this.#credentials.errors;
    return errors.length > 0 ? { ...view, credentialErrors: errors } : view;
  }

  /** pg_control is about to change (a data-dir operation): do not trust the cached reading. */
  forgetControlData(): void {
    this.#controlCache = null;
  }

  async #controlData(): Promise<ControlData | null> {
    const { layout, pg, owner, clock, log } = this.#p;
    try {
      const st = await fs.stat(path.join(layout.dataDir, ...PG_CONTROL_PATH));
      const key = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (this.#controlCache?.key === key) return this.#controlCache.data;
      const data = await readControlData(pg.bin_dir, layout.dataDir, owner, clock);
      this.#controlCache = { key, data };
      return data;
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'pg_controldata unavailable');
      return null;
    }
  }

  async #processState(): Promise<PgView['process']> {
    const keeper = this.#p.postmaster;
    const pm = keeper.pm?.alive ? keeper.pm : (this.#p.busy() ? null : await keeper.findRunning());
    if (!pm) return keeper.crashed ? 'crashed' : 'stopped';
    return (await readiness(this.#p.layout.dataDir, pm.pid)) === 'ready' ? 'running' : 'starting';
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
      for (const f of await fs.readdir(path.join(this.#p.layout.dataDir, 'pg_wal'))) {
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
    const pm = this.#p.postmaster.pm;
    if (view.role !== 'replica' || view.streaming || !pm) return view;
    const log = await readLogSince(this.#p.layout.logFile, Math.max(pm.logOffset, this.upstreamLogMark));
    // The leader's timeline forked off ours before our replay position: we are still on ours
    // (the newer history file in pg_wal notwithstanding), and diverged; pg_rewind can fix it.
    const fork = timelineForkedBehindUs(log);
    if (fork) return { ...view, timeline: fork.current, walDiverged: true };
    return { ...view, walDiverged: walRefusedAsDiverged(log) };
  }

  async #reportedUpstream(): Promise<string | null> {
    if (!(await exists(path.join(this.#p.layout.dataDir, 'standby.signal')))) return null;
    return (await this.#p.conf.currentUpstream())?.name ?? null;
  }

  async probe(): Promise<PgView> {
    const { layout, postmaster, probeConn, log } = this.#p;
    const base: PgView = {
      dataDir: 'empty', process: 'stopped', role: null, systemId: null, timeline: null, walLsn: null,
      receivedLsn: null, replayedLsn: null, upstream: null, streaming: false, controlState: 'unknown', checkpointLsn: null,
    };
    try {
      if (!(await isInitialized(layout.dataDir))) {
        return { ...base, process: postmaster.pm?.alive ? 'starting' : postmaster.crashed ? 'crashed' : 'stopped' };
      }
      const proc = await this.#processState();
      const upstream = await this.#reportedUpstream();
      if (proc === 'running') {
        try {
          const [row] = await probeConn.query<ProbeRow>(PROBE_SQL);
          if (row) return this.#withCredentials(await this.#withDivergence(await this.#withKnownTimeline(viewFromProbe(row, upstream))));
        } catch (err) {
          log.debug({ err: (err as Error).message }, 'probe query failed');
        }
      } else {
        probeConn.close();
      }
      const cd = await this.#controlData();
      return {
        ...base, dataDir: 'initialized', process: proc, upstream,
        systemId: cd?.systemId ?? null, timeline: cd?.timeline ?? null, controlState: cd?.state ?? 'unknown',
        checkpointLsn: cd?.checkpointLsn ?? null,
        backupLabel: await exists(path.join(layout.dataDir, 'backup_label')),
      };
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'probe failed');
      return { ...base, dataDir: 'initialized', process: postmaster.pm?.alive ? 'running' : 'stopped' };
    }
  }

  async replication(): Promise<ReplicationRow[]> {
    if (!this.#p.postmaster.pm?.alive) return [];
    try {
      const rows = await this.#p.probeConn.query<{
        application_name: string; client_addr: string | null; state: string; sync_state: string; replay_lsn: string | null;
      }>(`SELECT application_name, host(client_addr) AS client_addr, state, sync_state, replay_lsn::text AS replay_lsn
            FROM pg_stat_replication ORDER BY application_name`);
      this.#lastReplication = rows.map((r) => ({ ...r, replay_lsn: r.replay_lsn === null ? null : parseLsn(r.replay_lsn) }));
    } catch (err) {
      this.#p.log.debug({ err: (err as Error).message }, 'pg_stat_replication query failed; returning the last rows');
    }
    return this.#lastReplication;
  }
}
