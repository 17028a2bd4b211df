// Every notable event of a run as one line "t=<global ms> <who> <what>". The same seed yields the
// same lines in the same order; a rolling hash over all of them makes that cheap to assert.
import type { Scheduler } from './clock.js';

export class Trace {
  #ring: string[] = [];
  #next = 0;
  #hash = 0x811c9dc5;
  #count = 0;
  readonly #full: string[] | null;

  constructor(private readonly sched: Scheduler, private readonly keep = 400, full = false) {
    this.#full = full ? [] : null;
  }

  /** Record a line; `quiet` lines (per-write noise) count in the hash but not in the tail. */
  log(who: string, what: string, quiet = false): void {
    const line = `t=${String(this.sched.now).padStart(7)} ${who.padEnd(6)} ${what}`;
    let h = this.#hash;
    for (let i = 0; i < line.length; i++) {
      h ^= line.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    this.#hash = h >>> 0;
    this.#count++;
    this.#full?.push(line);
    if (quiet) return;
    if (this.#ring.length < this.keep) this.#ring.push(line);
    else this.#ring[this.#next] = line;
    this.#next = (this.#next + 1) % this.keep;
  }

  /** The last `n` non-quiet lines, oldest first. */
  tail(n: number): string[] {
    const ordered = this.#ring.length < this.keep
      ? this.#ring
      : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    return ordered.slice(Math.max(0, ordered.length - n));
  }

  /** Every line (only when constructed with full = true). */
  all(): readonly string[] {
    return this.#full ?? [];
  }

  get lines(): number {
    return this.#count;
  }

  get hash(): string {
    return this.#hash.toString(16).padStart(8, '0');
  }
}
