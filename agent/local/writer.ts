// A client that inserts one row every `intervalMs` through a connection string (typically
// HAProxy's read-write port) and keeps a history: which ids were acknowledged and when, which
// attempts failed and whether they might have committed anyway. After a fault, `verify()` reads
// the table back and names acknowledged rows that were lost.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { endQuietly, sql } from './sql.js';

/** Monotonic, but on the epoch-ms scale so it lines up with log timestamps. */
export const writerNow = (): number => performance.timeOrigin + performance.now();
const now = writerNow;

/** Sleeps `ms`, or less when `signal` aborts; leaves no listener behind either way. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface WriterOptions {
  connString: string;
  /** Pause between the starts of two attempts (an attempt never overlaps the next). Default 100. */
  intervalMs?: number;
  /** Default "pgwarden_writes"; created if missing. */
  table?: string;
  /** Tells several writers' rows apart. Default "w<random>". */
  writerId?: string;
  /** Default 1000. */
  connectTimeoutMs?: number;
  /** Server- and client-side limit of one INSERT. Default 2000. */
  statementTimeoutMs?: number;
}

export interface Ack {
  readonly id: number;
  readonly startedAt: number;
  readonly ackedAt: number;
  /** A server notice that came with it (e.g. the synchronous replication wait was cancelled). */
  readonly notice?: string;
}

export interface Failure {
  readonly id: number;
  readonly at: number;
  readonly phase: 'connect' | 'query';
  readonly error: string;
  /** SQLSTATE when the server sent one. */
  readonly code?: string;
  /** The INSERT reached the server and the outcome is unknown (connection lost, timeout…). */
  readonly maybeCommitted: boolean;
}

export interface Gap {
  readonly from: number;
  readonly to: number;
  readonly ms: number;
}

export interface WriterReport {
  readonly writerId: string;
  readonly attempts: number;
  readonly acked: number;
  readonly failed: number;
  readonly maybeCommitted: readonly number[];
  /** Longest stretch without an acknowledgement (from start, between acks, until stop). */
  readonly maxGapMs: number;
}

export interface VerifyResult {
  /** Acknowledged ids missing from the table: lost writes. */
  readonly lost: number[];
  /** Ids in the table that were never acknowledged (from maybeCommitted attempts: allowed). */
  readonly unacknowledged: number[];
  /** Unacknowledged ids that were not even in doubt (should never happen). */
  readonly phantom: number[];
  readonly rows: number;
}

// Server errors that mean "this statement did not commit": data, constraint, read-only, syntax.
const DEFINITE_FAILURE_CLASSES = new Set(['22', '23', '25', '42']);

function isIdentifier(s: string): boolean {
  return /^[a-z_][a-z0-9_]{0,62}$/.test(s);
}

export class Writer {
  readonly writerId: string;
  readonly table: string;
  readonly #opts: Required<Omit<WriterOptions, 'writerId' | 'table'>>;
  readonly #acks: Ack[] = [];
  readonly #failures: Failure[] = [];
  #seq = 0;
  #client: pg.Client | null = null;
  #loop: Promise<void> | null = null;
  #abort = new AbortController();
  #stopping = false;
  #startedAt = 0;
  #stoppedAt: number | null = null;
  #notice: string | undefined;

  constructor(opts: WriterOptions) {
    this.writerId = opts.writerId ?? `w${Math.random().toString(36).slice(2, 8)}`;
    this.table = opts.table ?? 'pgwarden_writes';
    if (!isIdentifier(this.table)) throw new Error(`Writer: table "${this.table}" must be a lower-case identifier`);
    this.#opts = {
      connString: opts.connString,
      intervalMs: opts.intervalMs ?? 100,
      connectTimeoutMs: opts.connectTimeoutMs ?? 1000,
      statementTimeoutMs: opts.statementTimeoutMs ?? 2000,
    };
  }

  get acked(): readonly Ack[] {
    return this.#acks;
  }

  get failed(): readonly Failure[] {
    return this.#failures;
  }

  get running(): boolean {
    return this.#loop !== null && !this.#stopping;
  }

  start(): this {
    if (this.#loop) throw new Error('Writer: already started');
    this.#startedAt = now();
    this.#loop = this.#run();
    return this;
  }

  /** Stops after the attempt in flight (bounded by the statement timeout) and closes the connection. */
  async stop(): Promise<WriterReport> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#abort.abort();
      await this.#loop;
      this.#stoppedAt = now();
      await this.#drop();
    }
    return this.report();
  }

  /** Resolves once `n` more rows than now have been acknowledged, or rejects after `timeoutMs`. */
  async waitForAcks(n: number, timeoutMs: number): Promise<void> {
    const target = this.#acks.length + n;
    const until = now() + timeoutMs;
    while (this.#acks.length < target) {
      if (now() >= until) {
        const last = this.#failures[this.#failures.length - 1];
        throw new Error(
          `Writer ${this.writerId}: ${target - this.#acks.length} of ${n} acknowledgements still missing after ${timeoutMs} ms` +
            (last ? `; last failure: ${last.error}` : ''),
        );
      }
      if (!this.running) throw new Error(`Writer ${this.writerId}: not running`);
      await pause(20);
    }
  }

  /** Stretches of at least `minMs` without an acknowledgement. */
  gaps(minMs = 0): Gap[] {
    const points = [this.#startedAt, ...this.#acks.map((a) => a.ackedAt), this.#stoppedAt ?? now()];
    const out: Gap[] = [];
    for (let i = 1; i < points.length; i++) {
      const ms = points[i]! - points[i - 1]!;
      if (ms >= minMs) out.push({ from: points[i - 1]!, to: points[i]!, ms });
    }
    return out;
  }

  report(): WriterReport {
    const maxGapMs = this.gaps().reduce((m, g) => Math.max(m, g.ms), 0);
    return {
      writerId: this.writerId,
      attempts: this.#seq,
      acked: this.#acks.length,
      failed: this.#failures.length,
      maybeCommitted: this.#failures.filter((f) => f.maybeCommitted).map((f) => f.id),
      maxGapMs: Math.round(maxGapMs),
    };
  }

  /** Reads this writer's rows back through `connString` and compares with the history. */
  async verify(connString: string, timeoutMs = 10_000): Promise<VerifyResult> {
    // Acknowledgements first: a row acknowledged while the query runs must not look lost.
    const acked = new Set(this.#acks.map((a) => a.id));
    const rows = await sql<{ id: string }>(connString, `SELECT id FROM ${this.table} WHERE writer = $1`, [this.writerId], { timeoutMs });
    const present = new Set(rows.map((r) => Number(r.id)));
    const doubtful = new Set(this.#failures.filter((f) => f.maybeCommitted).map((f) => f.id));
    const unacknowledged = [...present].filter((id) => !acked.has(id)).sort((a, b) => a - b);
    return {
      lost: [...acked].filter((id) => !present.has(id)).sort((a, b) => a - b),
      unacknowledged,
      phantom: unacknowledged.filter((id) => !doubtful.has(id)),
      rows: present.size,
    };
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const began = now();
      await this.#attempt();
      const wait = this.#opts.intervalMs - (now() - began);
      if (wait > 0 && !this.#stopping) await pause(wait, this.#abort.signal);
    }
  }

  async #attempt(): Promise<void> {
    const id = ++this.#seq;
    const startedAt = now();
    if (!this.#client) {
      try {
        this.#client = await this.#connect();
      } catch (err) {
        this.#fail(id, 'connect', err, false);
        await this.#drop();
        return;
      }
    }
    const client = this.#client;
    this.#notice = undefined;
    try {
      await client.query(`INSERT INTO ${this.table} (writer, id) VALUES ($1, $2)`, [this.writerId, id]);
      this.#acks.push({ id, startedAt, ackedAt: now(), ...(this.#notice ? { notice: this.#notice } : {}) });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const definite = typeof code === 'string' && DEFINITE_FAILURE_CLASSES.has(code.slice(0, 2));
      this.#fail(id, 'query', err, !definite);
      await this.#drop(); // reconnect next time: HAProxy may route us elsewhere now
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#opts.connString,
      connectionTimeoutMillis: this.#opts.connectTimeoutMs,
      query_timeout: this.#opts.statementTimeoutMs,
      statement_timeout: this.#opts.statementTimeoutMs,
      application_name: `pgwarden-writer-${this.writerId}`,
    });
    client.on('error', () => undefined); // surfaced by the next query instead
    client.on('notice', (n) => {
      this.#notice = n.message;
    });
    try {
      await client.connect();
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.table} (writer text NOT NULL, id bigint NOT NULL, ` +
          `at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (writer, id))`,
      );
    } catch (err) {
      await endQuietly(client, 500);
      throw err;
    }
    return client;
  }

  #fail(id: number, phase: Failure['phase'], err: unknown, maybeCommitted: boolean): void {
    const code = (err as { code?: unknown }).code;
    this.#failures.push({
      id,
      at: now(),
      phase,
      error: err instanceof Error ? err.message : String(err),
      ...(typeof code === 'string' ? { code } : {}),
      maybeCommitted,
    });
  }

  async #drop(): Promise<void> {
    const c = this.#client;
    this.#client = null;
    if (c) await endQuietly(c, 500);
  }
}
