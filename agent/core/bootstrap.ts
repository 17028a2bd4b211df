// After a bootstrap step failed: is the data directory it created the cluster already? Pure.
import type { InitializeState } from './types.js';

/**
 * - `recorded`: `initialize` holds this data directory's system identifier. It IS the cluster now
 *   (a step whose write reached etcd although its answer came late): keep it.
 * - `not_recorded`: `initialize` is absent, a bootstrap claim, or another identifier. This
 *   bootstrap did not take: its fresh data directory may go and the claim may be given back.
 * - `unknown`: `initialize` could not be read (or is malformed), or our own identifier could not be
 *   probed. Nothing may be removed on a guess; the next cycles read etcd again.
 */
export type BootstrapRecord = 'recorded' | 'not_recorded' | 'unknown';

export function bootstrapRecord(initialize: InitializeState | null, systemId: string | null): BootstrapRecord {
  if (initialize === null || initialize.state === 'malformed') return 'unknown';
  if (initialize.state !== 'done') return 'not_recorded';
  if (systemId === null) return 'unknown';
  return initialize.systemId === systemId ? 'recorded' : 'not_recorded';
}
