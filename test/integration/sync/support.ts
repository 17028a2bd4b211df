// Shared bits of the synchronous-replication, promotion and slot integration tests: the `sync`
// key, what the primary's PostgreSQL says about its standbys and slots, and runtime config
// changes through the REST API. Every wait has a deadline.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import type { AgentStatus, LocalCluster, LocalNode } from '../../harness/index.js';
import { direct } from '../cluster/support.js';

export interface SyncKey {
  readonly leader: string;
  readonly sync_standbys: string[];
}

/** The `sync` key as stored in etcd, or null when absent. */
export async function syncKey(cluster: LocalCluster): Promise<SyncKey | null> {
  const r = await cluster.etcdctl(['get', '--print-value-only', `${cluster.namespace}/${cluster.scope}/sync`]);
  if (!r.ok) throw new Error(`etcdctl get sync: ${r.stderr.trim()}`);
  const text = r.stdout.trim();
  return text ? JSON.parse(text) as SyncKey : null;
}

/** Waits until `sync` names `leader` with exactly `count` standbys (default 1). */
export function waitSyncPublished(cluster: LocalCluster, leader: string, opts: { count?: number; timeoutMs?: number } = {}): Promise<SyncKey> {
  const count = opts.count ?? 1;
  return cluster.waitFor(() => syncKey(cluster), {
    timeoutMs: opts.timeoutMs ?? 30_000,
    intervalMs: 200,
    what: `sync key naming leader ${leader} with ${count} standby(s)`,
    until: (k) => k?.leader === leader && k.sync_standbys.length === count,
  }) as Promise<SyncKey>;
}

export interface SyncReplication {
  readonly state: 'off' | 'synchronous' | 'asynchronous' | 'waiting';
  readonly standbys: string[];
}

export interface Status extends AgentStatus {
  synchronous_replication?: SyncReplication;
  last_decision?: { action: string; reason: string; at: string } | null;
  xlog?: { location?: number | null; received_location?: number | null; replayed_location?: number | null };
}

export async function status(cluster: LocalCluster, node: LocalNode): Promise<Status> {
  return await cluster.apiStatus(node, 2000) as Status;
}

/** Waits until the primary's /status reports synchronous_replication.state === `state`. */
export function waitSyncState(cluster: LocalCluster, primary: LocalNode, state: SyncReplication['state'], timeoutMs = 30_000): Promise<Status> {
  return cluster.waitFor(() => status(cluster, primary), {
    timeoutMs,
    intervalMs: 200,
    what: `${primary.name} to report synchronous_replication.state ${state}`,
    until: (s) => s.synchronous_replication?.state === state,
  });
}

export interface ReplicationRow extends Record<string, unknown> {
  application_name: string;
  state: string;
  sync_state: string;
}

export function replicationRows(cluster: LocalCluster, primary: LocalNode): Promise<ReplicationRow[]> {
  return direct<ReplicationRow>(cluster, primary, 'SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1');
}

/** Waits until `name` streams from `primary` (pg_stat_replication state 'streaming'). */
export function waitStreaming(cluster: LocalCluster, primary: LocalNode, name: string, timeoutMs = 90_000): Promise<ReplicationRow[]> {
  return cluster.waitFor(() => replicationRows(cluster, primary), {
    timeoutMs,
    intervalMs: 250,
    what: `${name} to stream from ${primary.name}`,
    until: (rows) => rows.some((r) => r.application_name === name && r.state === 'streaming'),
  });
}

export async function setting(cluster: LocalCluster, node: LocalNode, name: string): Promise<string> {
  const rows = await direct<{ v: string }>(cluster, node, 'SELECT current_setting($1) AS v', [name]);
  return rows[0]!.v;
}

export interface SlotRow extends Record<string, unknown> {
  slot_name: string;
  slot_type: string;
  active: boolean;
  restart_lsn: string | null;
}

export function slots(cluster: LocalCluster, node: LocalNode): Promise<SlotRow[]> {
  return direct<SlotRow>(cluster, node,
    'SELECT slot_name, slot_type, active, restart_lsn::text AS restart_lsn FROM pg_replication_slots ORDER BY slot_name');
}

/** PATCH /config (a JSON merge patch) through `node`'s REST API, with the cluster's credentials. */
export async function patchConfig(cluster: LocalCluster, node: LocalNode, patch: Record<string, unknown>): Promise<void> {
  const res = await cluster.api(node, '/config', { method: 'PATCH', body: patch, timeoutMs: 10_000 });
  if (res.status !== 200) throw new Error(`PATCH /config ${JSON.stringify(patch)} via ${node.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
}

/** Rewrites the `tags` of a node's pgwarden.yml (takes effect when its agent next starts). */
export function rewriteTags(node: LocalNode, tags: Record<string, unknown>): void {
  const text = readFileSync(node.configFile, 'utf8');
  const header = text.startsWith('#') ? `${text.split('\n', 1)[0]}\n` : '';
  const doc = parse(text) as Record<string, unknown>;
  doc.tags = { ...tags };
  writeFileSync(node.configFile, `${header}${stringify(doc)}`); // keeps the file's owner and mode
}

/** Collects a condition over time: `check` runs every `intervalMs` for `ms`; returns what it saw. */
export async function observeFor<T>(ms: number, intervalMs: number, check: () => Promise<T>): Promise<T[]> {
  const seen: T[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    seen.push(await check());
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return seen;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
