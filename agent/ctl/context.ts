// What every ctl command works with: the resolved config, etcd, the agents' APIs and the I/O,
// plus the helpers shared by several commands (member statuses, "send to whoever answers",
// waiting with a deadline).
import type { MemberRecord } from '../core/types.js';
import type { CtlConfig } from './config.js';
import type { ClusterRead, ClusterSource } from './etcd.js';
import { ApiUnreachable, messageOf, type AgentApi, type ApiCallOptions, type ApiResponse } from './http.js';
import { CtlFailure, type CtlIo } from './io.js';

export interface CtlContext {
  readonly io: CtlIo;
  readonly cfg: CtlConfig;
  readonly scope: string;
  readonly etcd: ClusterSource;
  readonly api: AgentApi;
}

/** The fields of an agent's GET /status document that ctl reads (SPEC §1.3). */
export interface MemberStatus {
  readonly name?: string;
  readonly role?: string;
  readonly state?: string;
  readonly timeline?: number | null;
  readonly pause?: boolean;
  readonly pending_restart?: boolean;
  readonly replication?: ReadonlyArray<{ application_name?: string; client_addr?: string | null; state?: string; sync_state?: string }>;
  readonly xlog?: { location?: number | null; received_location?: number | null; replayed_location?: number | null };
  readonly last_decision?: { action?: string; reason?: string } | null;
}

export const STATUS_TIMEOUT_MS = 2_000;

/** GET /status of one member; null when it does not answer (or answers garbage). */
export async function fetchStatus(ctx: CtlContext, m: Pick<MemberRecord, 'apiUrl'>, timeoutMs = STATUS_TIMEOUT_MS): Promise<MemberStatus | null> {
  try {
    const res = await ctx.api.get(m.apiUrl, '/status', timeoutMs);
    return res.status === 200 && res.body !== null && typeof res.body === 'object' ? res.body as MemberStatus : null;
  } catch (err) {
    if (err instanceof ApiUnreachable) return null;
    throw err;
  }
}

/** Every member's status, asked in parallel. */
export async function fetchStatuses(ctx: CtlContext, members: readonly MemberRecord[]): Promise<Map<string, MemberStatus | null>> {
  const entries = await Promise.all(members.map(async (m) => [m.name, await fetchStatus(ctx, m)] as const));
  return new Map(entries);
}

export function findMember(read: ClusterRead, name: string): MemberRecord {
  const m = read.view.members.find((x) => x.name === name);
  if (!m) {
    const known = read.view.members.map((x) => x.name).join(', ') || 'none registered';
    throw new CtlFailure(`${name} is not a member of cluster ${read.scope} (members: ${known})`);
  }
  return m;
}

export function leaderOf(read: ClusterRead): MemberRecord | null {
  const name = read.view.leader;
  return name === null ? null : read.view.members.find((m) => m.name === name) ?? null;
}

/** Read the cluster; a scope with no keys at all is an error (a typo, or a removed cluster). */
export async function readCluster(ctx: CtlContext): Promise<ClusterRead> {
  const read = await ctx.etcd.read();
  if (read.keyCount === 0) {
    throw new CtlFailure(`no cluster "${ctx.scope}" in etcd under namespace ${ctx.cfg.namespace} (${ctx.cfg.etcd.hosts.join(',')})`);
  }
  return read;
}

/**
 * Send a mutating request to the first member (in `order`) whose agent answers at all. Members
 * that do not answer are skipped with a note on stderr; an answer, whatever its status, ends it.
 */
export async function sendToFirst(
  ctx: CtlContext, order: readonly MemberRecord[], method: 'POST' | 'PATCH' | 'DELETE', path: string, opts: ApiCallOptions,
): Promise<{ member: MemberRecord; res: ApiResponse }> {
  const tried: string[] = [];
  for (const m of order) {
    try {
      const res = await ctx.api.send(m.apiUrl, method, path, opts);
      checkAuthAnswer(res, m);
      return { member: m, res };
    } catch (err) {
      if (!(err instanceof ApiUnreachable)) throw err;
      ctx.io.stderr.write(`${m.name} did not answer: ${err.message}\n`);
      tried.push(m.name);
    }
  }
  throw new CtlFailure(`no agent answered ${method} ${path} (tried ${tried.join(', ') || 'nobody: no members registered'})`);
}

/** Send to one member; an agent that does not answer is a failure. */
export async function sendTo(
  ctx: CtlContext, m: MemberRecord, method: 'POST' | 'PATCH' | 'DELETE', path: string, opts: ApiCallOptions,
): Promise<ApiResponse> {
  try {
    const res = await ctx.api.send(m.apiUrl, method, path, opts);
    checkAuthAnswer(res, m);
    return res;
  } catch (err) {
    if (err instanceof ApiUnreachable) throw new CtlFailure(`${m.name}: ${err.message}`);
    throw err;
  }
}

/** 401/403 say the ctl's own setup is wrong: explain where credentials come from. */
function checkAuthAnswer(res: ApiResponse, m: MemberRecord): void {
  if (res.status === 401) {
    throw new CtlFailure(
      `${m.name} refused the credentials (${messageOf(res)}); set restapi.auth in the ctl config file, ` +
      'PGWARDEN_CTL_USERNAME/PGWARDEN_CTL_PASSWORD or PGWARDEN_CTL_TOKEN, or use -c with the agent\'s pgwarden.yml',
    );
  }
  if (res.status === 403) throw new CtlFailure(`${m.name} refused the request: ${messageOf(res)}`);
}

/** The answer was a success (2xx)? Otherwise a CtlFailure with the agent's message. */
export function expectOk(res: ApiResponse, what: string): string {
  const message = messageOf(res);
  if (res.status >= 200 && res.status < 300) return message;
  throw new CtlFailure(`${what} failed (HTTP ${res.status}): ${message}`);
}

/**
 * Probe every `intervalMs` until `done` returns a value, or fail with `what` after `timeoutMs`.
 * Probes that throw count as "not yet" (their message is kept for the timeout error).
 */
export async function waitUntil<T>(
  ctx: CtlContext, what: string, timeoutMs: number, probe: () => Promise<T | null>, intervalMs = 1000,
): Promise<T> {
  const deadline = ctx.io.now() + timeoutMs;
  let last = 'nothing observed yet';
  for (;;) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    const left = deadline - ctx.io.now();
    if (left <= 0) throw new CtlFailure(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what} (${last})`);
    await ctx.io.sleep(Math.min(intervalMs, left));
  }
}
