// Recovery time as the failover benchmark defines it: from the fault to the first acknowledged
// commit after the last failed attempt (before the next fault).
import type { Ack, Failure } from '../writer.js';

export interface Recovery {
  /** ms from fault to the first ack after the last failure (null: not recovered yet). */
  readonly rtoMs: number | null;
  readonly failures: number;
}

export function recoveryAfter(faultAt: number, acks: readonly Ack[], failures: readonly Failure[], until = Infinity): Recovery {
  const fails = failures.filter((f) => f.at >= faultAt && f.at < until);
  const lastFail = fails.length ? fails[fails.length - 1]!.at : faultAt;
  const ack = acks.find((a) => a.ackedAt > lastFail && a.ackedAt < until);
  return { rtoMs: ack ? ack.ackedAt - faultAt : null, failures: fails.length };
}

/** Monotonic ms on the epoch scale, the clock the Writer stamps with. */
export { writerNow } from '../writer.js';
