// A TCP relay that delays every byte by a settable latency (± jitter), in both directions: how the
// chaos suite adds latency to a node's links on kernels without sch_netem (tc netem). It works a
// level above netem (whole chunks of a TCP stream, not packets), which is what the agents and
// PostgreSQL notice: every request, answer and WAL record of the node arrives `delay` later.
//
// The harness runs one relay per node inside the node's network namespace; iptables REDIRECT rules
// there send the node's own connections (etcd, peers' PostgreSQL and APIs) and the connections it
// accepts (its PostgreSQL, its API) through one listener per destination (see cluster.ts).
// Ordering is kept: each direction is a FIFO released by one timer, never one timer per chunk.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface RelayRoute {
  /** What the route carries, for logs and the ports file: "etcd1", "node2 pg", "in api". */
  readonly label: string;
  /** Where the relay connects for each accepted connection. */
  readonly target: { readonly host: string; readonly port: number };
}

export interface RelayListener {
  readonly label: string;
  readonly port: number;
}

export interface RelayDelay {
  readonly delayMs: number;
  readonly jitterMs: number;
}

/** Above this many bytes waiting in one direction, the reading side is paused (back-pressure). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/**
 * The release time of the next chunk: `now + delay ± jitter`, never before the previous chunk's
 * (a stream is not reordered; jitter stretches gaps, it cannot swap bytes).
 */
export function releaseAt(now: number, previous: number, d: RelayDelay, random: () => number): number {
  const jitter = d.jitterMs > 0 ? (random() * 2 - 1) * d.jitterMs : 0;
  return Math.max(previous, now + Math.max(0, d.delayMs + jitter));
}

/**
 * Copies `from` to `to`, each chunk released at releaseAt(). Once the queue is empty, an ended
 * `from` ends `to` (half-close) and an abruptly closed one (reset, error) destroys it.
 */
function pipeDelayed(from: Socket, to: Socket, delay: () => RelayDelay, random: () => number): void {
  const queue: { at: number; chunk: Buffer }[] = [];
  let queued = 0;
  let last = 0;
  let finish: 'end' | 'destroy' | null = null;
  let timer: NodeJS.Timeout | null = null;

  const settle = (): void => {
    if (queue.length > 0 || to.destroyed || finish === null) return;
    if (finish === 'end') to.end();
    else to.destroy();
  };

  const flush = (): void => {
    timer = null;
    const now = Date.now();
    while (queue.length > 0 && queue[0]!.at <= now) {
      const { chunk } = queue.shift()!;
      queued -= chunk.length;
      if (!to.destroyed) to.write(chunk);
    }
    if (queued < MAX_QUEUED_BYTES / 2 && from.isPaused() && !from.destroyed) from.resume();
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.at - now);
    else settle();
  };

  from.on('data', (chunk: Buffer) => {
    const d = delay();
    if (d.delayMs <= 0 && d.jitterMs <= 0 && queue.length === 0) {
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
      return;
    }
    last = releaseAt(Date.now(), last, d, random);
    queue.push({ at: last, chunk });
    queued += chunk.length;
    if (queued > MAX_QUEUED_BYTES) from.pause();
    timer ??= setTimeout(flush, Math.max(0, queue[0]!.at - Date.now()));
  });
  from.on('end', () => {
    finish = 'end';
    settle();
  });
  from.on('close', () => {
    finish ??= 'destroy';
    settle();
  });
}

export class DelayRelay {
  #delay: RelayDelay = { delayMs: 0, jitterMs: 0 };
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #random: () => number;
  readonly #onError: (label: string, err: Error) => void;

  constructor(opts: { random?: () => number; onError?: (label: string, err: Error) => void } = {}) {
    this.#random = opts.random ?? Math.random;
    this.#onError = opts.onError ?? (() => undefined);
  }

  get delay(): RelayDelay {
    return this.#delay;
  }

  /** Applies to every byte read from now on (bytes already queued keep their release time). */
  setDelay(d: RelayDelay): void {
    if (!(d.delayMs >= 0) || !(d.jitterMs >= 0)) throw new Error(`relay: delay and jitter must be ≥ 0 ms, got ${JSON.stringify(d)}`);
    this.#delay = d;
  }

  /** One listener per route on `host` (port chosen by the system). */
  async listen(routes: readonly RelayRoute[], host = '0.0.0.0'): Promise<RelayListener[]> {
    const out: RelayListener[] = [];
    for (const route of routes) {
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.#accept(route, client));
      this.#servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
      const addr = server.address();
      if (addr === null || typeof addr === 'string') throw new Error(`relay: ${route.label} has no port`);
      out.push({ label: route.label, port: addr.port });
    }
    return out;
  }

  #accept(route: RelayRoute, client: Socket): void {
    const upstream = connect({ host: route.target.host, port: route.target.port, allowHalfOpen: true, noDelay: true });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', (err) => {
        // A refused or reset upstream resets the client too, as a direct connection would.
        this.#onError(route.label, err);
        for (const x of [client, upstream]) if (!x.destroyed) x.resetAndDestroy();
      });
    }
    pipeDelayed(client, upstream, () => this.#delay, this.#random);
    pipeDelayed(upstream, client, () => this.#delay, this.#random);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
