// What the mutating REST endpoints ask of the agent. The API validates requests (shape, auth)
// and maps results to HTTP; the runtime implements the operations (see control-impl.ts).
import type { DynamicConfig } from '../config/types.js';

/** HTTP-like outcome of an operation: the API answers with `status` and a JSON body. */
export interface ControlResult {
  /** 200 done, 202 scheduled/accepted, 400 malformed, 409 lost race, 412 precondition, 503 failed/timed out. */
  readonly status: 200 | 202 | 400 | 409 | 412 | 503;
  /** One sentence for people (and `pgwarden ctl`). */
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface SwitchoverRequest {
  /** The current leader's name (must match, or 412). */
  readonly leader: string;
  /** Target; absent = the best eligible replica. */
  readonly candidate?: string;
  /** ISO-8601 with a time zone; absent = now. */
  readonly scheduledAt?: string;
}

export interface ControlPort {
  /** The dynamic config in etcd and its mod revision (0 when absent). */
  readConfig(): Promise<{ config: DynamicConfig; revision: number }>;
  /** Compare-and-swap on the revision; false when someone else wrote first. */
  writeConfig(config: DynamicConfig, revision: number): Promise<boolean>;
  /** Planned switchover; resolves when done (200), scheduled (202) or refused (400/412/503). */
  switchover(req: SwitchoverRequest): Promise<ControlResult>;
  /** Cancel a scheduled switchover (DELETE /switchover). */
  cancelSwitchover(): Promise<ControlResult>;
  /** Manual promotion of `candidate` when there is no healthy leader (or forced by an operator). */
  failover(req: { readonly candidate: string }): Promise<ControlResult>;
  /** Restart the local PostgreSQL (a primary keeps the key). */
  restart(): Promise<ControlResult>;
  /** Rebuild this replica from a fresh base backup of the leader (refused on the leader: 412). */
  reinitialize(): Promise<ControlResult>;
  /** Re-read the local config file (log level, tags…) and reload PostgreSQL's config. */
  reload(): Promise<ControlResult>;
}
