// The simulated network between hosts (agents' nodes, etcd, the client host with HAProxy and the
// writer). Per-pair base latency plus jitter and rare spikes, message drops on request/response
// traffic, partitions that can overlap (a pair is cut while any partition covers it), and slow
// links. Everything is drawn from the simulation's seed.
import type { Scheduler } from './clock.js';
import type { Rng } from './rng.js';

export type Host = string;

function pair(a: Host, b: Host): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

export interface NetworkOptions {
  /**
   * Probability that one message loses a packet. Links are TCP: the message is not lost but
   * retransmitted after an RTO (200 ms and up), which can outlast a caller's deadline.
   */
  readonly lossRate: number;
  /** Probability that one message takes a latency spike. */
  readonly spikeRate: number;
  /** Spike size upper bound, ms. */
  readonly spikeMaxMs: number;
}

export class Network {
  readonly #cut = new Map<string, number>();
  readonly #base = new Map<string, number>();
  readonly #slow = new Map<string, number>();

  constructor(private readonly sched: Scheduler, private readonly rng: Rng, private readonly opts: NetworkOptions) {}

  /** Can a message go from a to b right now? */
  up(a: Host, b: Host): boolean {
    return a === b || !this.#cut.has(pair(a, b));
  }

  cut(a: Host, b: Host): void {
    const k = pair(a, b);
    this.#cut.set(k, (this.#cut.get(k) ?? 0) + 1);
  }

  restore(a: Host, b: Host): void {
    const k = pair(a, b);
    const n = (this.#cut.get(k) ?? 0) - 1;
    if (n > 0) this.#cut.set(k, n);
    else this.#cut.delete(k);
  }

  slow(a: Host, b: Host, extraMs: number): void {
    this.#slow.set(pair(a, b), extraMs);
  }

  unslow(a: Host, b: Host): void {
    this.#slow.delete(pair(a, b));
  }

  /** Remove every partition and slow link (the liveness phase). */
  healAll(): void {
    this.#cut.clear();
    this.#slow.clear();
  }

  /** One-way latency of one message, ms. */
  latency(a: Host, b: Host): number {
    if (a === b) return 0.05;
    const k = pair(a, b);
    let base = this.#base.get(k);
    if (base === undefined) {
      base = 0.2 + this.rng.next() * 2;
      this.#base.set(k, base);
    }
    let d = base + this.rng.exp(0.4) + (this.#slow.get(k) ?? 0);
    if (this.rng.chance(this.opts.spikeRate)) d += this.rng.next() * this.opts.spikeMaxMs;
    return d;
  }

  /**
   * Send one message: lost if the pair is cut when it leaves or when it arrives; otherwise
   * `deliver` runs on arrival (after a retransmission delay if a packet was lost and `lossy`).
   * Returns false if it was lost at once.
   */
  send(a: Host, b: Host, deliver: () => void, lossy = true): boolean {
    if (!this.up(a, b)) return false;
    let d = this.latency(a, b);
    if (lossy && a !== b && this.rng.chance(this.opts.lossRate)) d += 200 + this.rng.exp(300);
    this.sched.at(this.sched.now + d, () => {
      if (this.up(a, b)) deliver();
    });
    return true;
  }
}
