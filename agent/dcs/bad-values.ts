// Warn about a malformed value in etcd once per distinct value, not on every HA cycle.
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';

const SHOWN_CHARS = 200;

export class BadValueLog {
  /** key → hash of the bad value last reported for it. */
  readonly #reported = new Map<string, string>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** A value of `key` failed validation: warn unless this exact value was reported already. */
  bad(key: string, raw: string, reason: string): void {
    const digest = createHash('sha1').update(raw).digest('hex');
    if (this.#reported.get(key) === digest) return;
    this.#reported.set(key, digest);
    const value = raw.length > SHOWN_CHARS ? `${raw.slice(0, SHOWN_CHARS)}…` : raw;
    this.#log.warn({ key, reason, value }, `ignoring malformed etcd value at ${key}: ${reason}`);
  }

  /** After a full read: forget keys that are now valid or gone, so a later bad value warns again. */
  keepOnly(stillBad: ReadonlySet<string>): void {
    for (const key of this.#reported.keys()) {
      if (!stillBad.has(key)) this.#reported.delete(key);
    }
  }
}
