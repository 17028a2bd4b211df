// A watch on every key under the cluster prefix, on its own gRPC stream. It reports each put and
// delete as the key relative to the prefix, and survives etcd outages by itself: on a broken
// stream it reconnects (backoff 100 ms doubling to 1 s) and resumes from the revision after the
// last one it delivered, so no change is skipped. If etcd compacted that history away it resumes
// from the compaction point and reports "" (meaning: something may have changed, re-read).
//
// A stream to a frozen or cut-off etcd member does not fail, it just goes quiet. So when the
// stream has been quiet for a second the watch asks etcd for a progress report; no answer within
// the timeout counts as a broken stream (and as a failure of that host, so the reconnect prefers
// another member).
import type { IDuplexStream, IWatchRequest, IWatchResponse, WatchClient } from 'etcd3';
import { every, type Clock, type Timer } from '../clock.js';
import type { Logger } from '../log.js';
import type { ClusterKeys } from './keys.js';

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 1000;
/** Ask for a progress report after this much silence. */
const QUIET_MS = 1000;

/** Key reported when changes may have been missed: the caller should re-read everything. */
export const RESYNC_KEY = '';

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

export class PrefixWatch {
  readonly #client: WatchClient;
  readonly #keys: ClusterKeys;
  readonly #onChange: (key: string) => void;
  readonly #log: Logger;
  /** How long etcd may take to answer (creation or progress request) before the stream counts as broken. */
  readonly #answerTimeoutMs: number;
  #stream: WatchStream | null = null;
  #heartbeat: Timer | null = null;
  #closed = false;
  #timer: Timer | null = null;
  #retryMs = FIRST_RETRY_MS;
  /** Revision to resume from after a reconnect; null until the first watch is created. */
  #nextRevision: number | null = null;
  /** The stream broke and is not re-established yet (log the outage once, and its end). */
  #down = false;
  readonly #created: Promise<void>;
  #resolveCreated!: () => void;

  readonly #clock: Clock;

  constructor(
    client: WatchClient, keys: ClusterKeys, onChange: (key: string) => void,
    opts: { log: Logger; clock: Clock; answerTimeoutMs: number },
  ) {
    this.#client = client;
    this.#clock = opts.clock;
    this.#answerTimeoutMs = opts.answerTimeoutMs;
    this.#keys = keys;
    this.#onChange = onChange;
    this.#log = opts.log;
    this.#created = new Promise<void>((resolve) => { this.#resolveCreated = resolve; });
  }

  /** Start watching. Resolves when etcd confirmed the watch, or after `waitMs` (it keeps trying). */
  async start(waitMs: number): Promise<boolean> {
    void this.#connect();
    let timer: Timer | undefined;
    const timedOut = new Promise<boolean>((resolve) => { timer = this.#clock.setTimer(waitMs, () => resolve(false)); });
    const ok = await Promise.race([this.#created.then(() => true), timedOut]);
    timer?.cancel();
    if (!ok) this.#log.warn({ waitMs }, 'etcd watch not established yet; it keeps retrying in the background');
    return ok;
  }

  async cancel(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = null;
    this.#stopHeartbeat();
    const stream = this.#stream;
    this.#stream = null;
    if (stream) closeStream(stream, false);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    let stream: WatchStream;
    try {
      stream = await this.#client.watch();
    } catch (e) {
      this.#broken(e);
      return;
    }
    if (this.#closed) {
      closeStream(stream, false);
      return;
    }
    this.#stream = stream;
    let alive = true;
    const fail = (err: unknown, hostFailed = false): void => {
      if (!alive) return;
      alive = false;
      this.#stopHeartbeat();
      if (this.#stream === stream) this.#stream = null;
      closeStream(stream, hostFailed);
      this.#broken(err);
    };
    // Waiting for an answer since (creation, then progress requests); null when not waiting.
    let askedAt: number | null = this.#clock.now();
    let heardAt = this.#clock.now();
    this.#heartbeat = every(this.#clock, Math.min(QUIET_MS, this.#answerTimeoutMs) / 4, () => {
      const now = this.#clock.now();
      if (askedAt !== null && now - askedAt > this.#answerTimeoutMs) {
        fail(new Error(`etcd did not answer on the watch stream within ${this.#answerTimeoutMs} ms`), true);
      } else if (askedAt === null && now - heardAt >= QUIET_MS) {
        askedAt = now;
        stream.write({ progress_request: {} });
      }
    });
    stream.on('data', (res) => {
      if (!alive) return;
      askedAt = null;
      heardAt = this.#clock.now();
      this.#handle(res, fail);
    });
    stream.on('error', (err) => fail(err));
    stream.on('end', () => fail(new Error('watch stream ended')));
    stream.write({
      create_request: {
        key: this.#keys.prefixBuf,
        range_end: this.#keys.rangeEnd,
        ...(this.#nextRevision !== null ? { start_revision: this.#nextRevision } : {}),
      },
    });
  }

  #handle(res: IWatchResponse, fail: (err: unknown) => void): void {
    if (res.canceled) {
      const compacted = Number(res.compact_revision);
      if (compacted > 0) {
        this.#log.warn({ from: this.#nextRevision, compacted }, 'etcd compacted the history the watch needed; resuming from the compaction point');
        this.#nextRevision = compacted;
        this.#retryMs = 0;
        this.#deliver(RESYNC_KEY);
      }
      fail(new Error(`watch canceled by etcd${res.cancel_reason ? `: ${res.cancel_reason}` : ''}`));
      return;
    }
    if (res.created) {
      // Without a start revision, the watch sees changes after the revision in this header.
      if (this.#nextRevision === null) this.#nextRevision = Number(res.header.revision) + 1;
      this.#retryMs = FIRST_RETRY_MS;
      if (this.#down) this.#log.info({ from: this.#nextRevision }, 'etcd watch re-established');
      this.#down = false;
      this.#resolveCreated();
    }
    let last = 0;
    for (const ev of res.events) {
      last = Math.max(last, Number(ev.kv.mod_revision));
      const key = this.#keys.relative(ev.kv.key);
      if (key !== null) this.#deliver(key);
    }
    if (last > 0) this.#nextRevision = Math.max(this.#nextRevision ?? 0, last + 1);
  }

  #stopHeartbeat(): void {
    this.#heartbeat?.cancel();
    this.#heartbeat = null;
  }

  #deliver(key: string): void {
    try {
      this.#onChange(key);
    } catch (e) {
      this.#log.error({ err: e, key }, 'watch listener threw');
    }
  }

  #broken(err: unknown): void {
    if (this.#closed) return;
    const message = err instanceof Error ? err.message : String(err);
    if (!this.#down) this.#log.warn({ err: message }, 'etcd watch broke; reconnecting');
    else this.#log.debug({ err: message }, 'etcd watch reconnect failed');
    this.#down = true;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(Math.max(delay * 2, FIRST_RETRY_MS), MAX_RETRY_MS);
    this.#timer = this.#clock.setTimer(delay, () => {
      this.#timer = null;
      void this.#connect();
    });
  }
}

/**
 * Cancel the call. etcd3's stream error handler counts the CANCELLED that follows as a failure of
 * the host (circuit breaker, fresh connection) only while the stream is writable: so end our side
 * first unless the host really failed.
 */
function closeStream(stream: WatchStream, hostFailed: boolean): void {
  try {
    if (!hostFailed) stream.end();
    stream.cancel();
  } catch {
    // already closed
  }
}
