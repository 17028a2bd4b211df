// The only place the agent reads time. Monotonic for every deadline; wall clock for display.
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Monotonic milliseconds (never jumps). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (for timestamps shown to people). */
  wallNow(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
};

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
