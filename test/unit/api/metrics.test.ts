// GET /metrics: node gauges are read from the HA loop's snapshot at scrape time; counters and
// histograms move when the runtime calls AgentMetrics. Scraped with fastify's inject() and parsed
// as Prometheus' text format.
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../../agent/api/server.js';
import { AgentMetrics, replicationLag } from '../../../agent/api/metrics.js';
import { NodeStateStore, type NodeState } from '../../../agent/runtime/node-state.js';
import { systemClock, type Clock } from '../../../agent/clock.js';
import { createLogger } from '../../../agent/log.js';
import { NOW, OPTIME, MB, clusterView, member, primaryState, replicaState, withLeaseExpired, withNoCluster, withPaused, withPgStopped } from './builders.js';

const apps: FastifyInstance[] = [];
afterEach(async () => { await Promise.all(apps.splice(0).map((a) => a.close())); });

const clock: Clock = { ...systemClock, now: () => NOW, wallNow: () => 1_735_689_601_000 };

function harness(state: NodeState, processMetrics = false) {
  const store = new NodeStateStore(state);
  const metrics = new AgentMetrics({ scope: state.scope, name: state.name, state: () => store.get(), clock, processMetrics });
  const app = buildApi({ store, clock, metrics, logger: createLogger({ level: 'silent', format: 'json' }) });
  apps.push(app);
  return { app, store, metrics };
}

interface Sample { name: string; labels: Record<string, string>; value: number }

/** Prometheus text format → samples; throws on any line that is not a comment or a sample. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (/^# HELP \S+ .+$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

async function scrape(app: FastifyInstance) {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  const parsed = parseExposition(res.body);
  const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
    parsed.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  return { ...parsed, value, body: res.body };
}

describe('GET /metrics', () => {
  it('serves the role gauges of a primary holding the key, with scope and name labels', async () => {
    const { app } = harness(primaryState());
    const m = await scrape(app);
    expect(m.value('pgwarden_primary')).toBe(1);
    expect(m.value('pgwarden_leader')).toBe(1);
    expect(m.value('pgwarden_replica')).toBe(0);
    expect(m.value('pgwarden_postgres_running')).toBe(1);
    expect(m.value('pgwarden_timeline')).toBe(2);
    expect(m.value('pgwarden_xlog_location_bytes')).toBe(OPTIME + 4096);
    expect(m.value('pgwarden_xlog_replayed_location_bytes')).toBe(0);
    expect(m.value('pgwarden_paused')).toBe(0);
    expect(m.value('pgwarden_pending_restart')).toBe(0);
    expect(m.value('pgwarden_dcs_last_seen_seconds')).toBe(1_735_689_600);
    for (const s of m.samples) expect(s.labels).toMatchObject({ scope: 'demo', name: 'node-a' });
    expect(m.types.get('pgwarden_primary')).toBe('gauge');
    expect(m.types.get('pgwarden_leader_changes_total')).toBe('counter');
    expect(m.types.get('pgwarden_ha_loop_duration_seconds')).toBe('histogram');
  });

  it('reports each replica\'s lag on the leader, from the cluster view', async () => {
    const state = primaryState({
      cluster: clusterView({
        members: [
          member('node-a', { role: 'primary', walLsn: OPTIME, receivedLsn: null, replayedLsn: null }),
          member('node-b', { replayedLsn: OPTIME - 2 * MB }),
          member('node-c', { replayedLsn: OPTIME }),
        ],
      }),
    });
    const m = await scrape(harness(state).app);
    const lag = m.samples.filter((s) => s.name === 'pgwarden_replication_lag_bytes');
    expect(lag.map((s) => [s.labels['member'], s.value])).toEqual([['node-b', 2 * MB], ['node-c', 0]]);
  });

  it('reports a replica\'s own lag and position, and follows the snapshot between scrapes', async () => {
    const { app, store } = harness(replicaState({ lag: 3 * MB }));
    let m = await scrape(app);
    expect(m.value('pgwarden_replica')).toBe(1);
    expect(m.value('pgwarden_primary')).toBe(0);
    expect(m.value('pgwarden_leader')).toBe(0);
    expect(m.value('pgwarden_xlog_replayed_location_bytes')).toBe(OPTIME - 3 * MB);
    expect(m.value('pgwarden_replication_lag_bytes', { member: 'node-b' })).toBe(3 * MB);
    expect(m.samples.filter((s) => s.name === 'pgwarden_replication_lag_bytes')).toHaveLength(1);

    store.set(withPaused(withPgStopped(replicaState())));
    m = await scrape(app);
    expect(m.value('pgwarden_replica')).toBe(0);
    expect(m.value('pgwarden_postgres_running')).toBe(0);
    expect(m.value('pgwarden_paused')).toBe(1);
    expect(m.value('pgwarden_replication_lag_bytes', { member: 'node-b' })).toBeUndefined();
  });

  it('drops primary and leader once the lease deadline has passed', async () => {
    const m = await scrape(harness(withLeaseExpired(primaryState())).app);
    expect(m.value('pgwarden_primary')).toBe(0);
    expect(m.value('pgwarden_leader')).toBe(0);
    expect(m.value('pgwarden_postgres_running')).toBe(1);
  });

  it('answers before the first cluster view, with no lag series', async () => {
    const m = await scrape(harness(withNoCluster(replicaState())).app);
    expect(m.value('pgwarden_dcs_last_seen_seconds')).toBe(0);
    expect(m.samples.some((s) => s.name === 'pgwarden_replication_lag_bytes')).toBe(false);
  });

  it('moves counters and histograms when the runtime reports', async () => {
    const { app, metrics } = harness(primaryState());
    metrics.countDecision('none');
    metrics.countDecision('none');
    metrics.countDecision('promote');
    metrics.observeCycle(0.02);
    metrics.observeEtcd('read cluster', 0.003);
    metrics.observeEtcd('read cluster', 0.2);
    for (const leader of ['node-a', 'node-a', null, 'node-a', null, 'node-b', 'node-c']) metrics.observeLeader(leader);
    const m = await scrape(app);
    expect(m.value('pgwarden_decisions_total', { action: 'none' })).toBe(2);
    expect(m.value('pgwarden_decisions_total', { action: 'promote' })).toBe(1);
    expect(m.value('pgwarden_leader_changes_total')).toBe(2); // a→(none)→a is not a change; a→(none)→b and b→c are
    expect(m.value('pgwarden_ha_loop_duration_seconds_count')).toBe(1);
    expect(m.value('pgwarden_ha_loop_duration_seconds_bucket', { le: '0.025' })).toBe(1);
    expect(m.value('pgwarden_ha_loop_duration_seconds_bucket', { le: '0.01' })).toBe(0);
    expect(m.value('pgwarden_etcd_request_duration_seconds_count', { op: 'read cluster' })).toBe(2);
    expect(m.value('pgwarden_etcd_request_duration_seconds_sum', { op: 'read cluster' })).toBeCloseTo(0.203);
  });

  it('includes process metrics with the pgwarden_ prefix, in its own registry', async () => {
    const m = await scrape(harness(primaryState(), true).app);
    expect(m.value('pgwarden_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(m.samples.some((s) => !s.name.startsWith('pgwarden_'))).toBe(false);
    // A second agent in the same process (tests, the demo) does not collide.
    const again = await scrape(harness(replicaState(), true).app);
    expect(again.value('pgwarden_replica', { name: 'node-b' })).toBe(1);
  });
});

describe('replicationLag', () => {
  it('is empty without a published optime', () => {
    const s = primaryState();
    expect(replicationLag({ ...s, cluster: { ...s.cluster!, status: null } }).size).toBe(0);
  });
});
