// Simulated time. One global timeline in integer milliseconds, advanced only by the discrete-event
// scheduler; per-host monotonic clocks that run at a slightly wrong rate (bounded drift). Nothing
// here reads a real clock or sets a real timer.

interface Event {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Priority queue of events by (time, insertion order): equal times run in the order scheduled. */
export class Scheduler {
  #now = 0;
  #seq = 0;
  #heap: Event[] = [];
  /** Events run so far. */
  steps = 0;
  #processCodeRan = false;

  /** An event ran a simulated process's code: its promise continuations must run before the next. */
  ranProcessCode(): void {
    this.#processCodeRan = true;
  }

  /** Whether the last event(s) ran process code since the last call (and reset). */
  takeProcessCodeRan(): boolean {
    const r = this.#processCodeRan;
    this.#processCodeRan = false;
    return r;
  }

  get now(): number {
    return this.#now;
  }

  get pending(): number {
    return this.#heap.length;
  }

  /** Run `fn` at global time `t` (rounded up to a whole ms, never in the past). */
  at(t: number, fn: () => void): void {
    const at = Math.max(this.#now, Math.ceil(t));
    const ev: Event = { at, seq: this.#seq++, fn };
    const h = this.#heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(ev, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = ev;
  }

  after(ms: number, fn: () => void): void {
    this.at(this.#now + ms, fn);
  }

  /** Time of the next event, or null when none is queued. */
  peek(): number | null {
    return this.#heap[0]?.at ?? null;
  }

  /** Run the next event. Returns false when the queue is empty. */
  step(): boolean {
    const h = this.#heap;
    const top = h[0];
    if (!top) return false;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    this.#now = top.at;
    this.steps++;
    top.fn();
    return true;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Largest drift a host clock may have: its rate is within 1 ± MAX_DRIFT of true time. */
export const MAX_DRIFT = 0.005;

/**
 * A host's monotonic clock: `offset + rate × global`. What the agent passes as `now` to decide()
 * and what its timers count in. Timers set for `ms` on this clock fire after `ms / rate` global ms.
 */
export class HostClock {
  constructor(private readonly sched: Scheduler, readonly rate: number, readonly offset: number) {
    if (Math.abs(rate - 1) > MAX_DRIFT + 1e-12) throw new Error(`clock rate ${rate} drifts more than ${MAX_DRIFT}`);
  }

  now(): number {
    return this.offset + this.sched.now * this.rate;
  }

  /** The global time at which this clock reads `t`. */
  toGlobal(t: number): number {
    return (t - this.offset) / this.rate;
  }

  /** Global time at which this clock will have advanced by `ms`. */
  globalAfter(ms: number): number {
    return this.sched.now + Math.max(0, ms) / this.rate;
  }
}
