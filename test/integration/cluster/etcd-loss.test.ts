// The primary loses etcd (every member frozen): it must stop accepting writes before its lease
// could expire (rule 2), measured against the send time of its last successful renewal; when
// etcd returns, the cluster recovers by itself.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { withCluster, Writer } from '../../harness/index.js';

describe('primary loses etcd', () => {
  const cluster = withCluster({ agents: 3, scope: 'itetcd', waitReady: { timeoutMs: 120_000 } });

  it('fences before the lease could expire and recovers when etcd returns', async () => {
    const primary = await cluster.waitForPrimary();
    const ttlMs = 3000;
    // Direct writes to the primary, every 50 ms, each on its own short-lived connection.
    const accepted: number[] = [];
    const refused: number[] = [];
    let writing = true;
    const client = new pg.Client({ connectionString: cluster.pgConnString(primary), connectionTimeoutMillis: 500, statement_timeout: 500, query_timeout: 500 });
    client.on('error', () => undefined);
    await client.connect();
    await client.query('CREATE TABLE IF NOT EXISTS it_fence (at bigint)');
    const loop = (async () => {
      let c: pg.Client | null = client;
      while (writing) {
        const t = Date.now();
        try {
          if (!c) {
            c = new pg.Client({ connectionString: cluster.pgConnString(primary), connectionTimeoutMillis: 500, query_timeout: 500 });
            c.on('error', () => undefined);
            await c.connect();
          }
          await c.query('INSERT INTO it_fence VALUES ($1)', [t]);
          accepted.push(Date.now());
        } catch {
          refused.push(t);
          await c?.end().catch(() => undefined);
          c = null;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await c?.end().catch(() => undefined);
    })();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const frozenAt = Date.now();
      cluster.freezeEtcd();
      // Read the send time of the last successful renewal from the agent (its API stays up).
      await new Promise((r) => setTimeout(r, ttlMs + 1500));
      const st = await cluster.apiStatus(primary);
      const renewedAtMs = Number(st.lease_renewed_at) * 1000;
      expect(renewedAtMs).toBeGreaterThan(frozenAt - 2000);
      expect(renewedAtMs).toBeLessThanOrEqual(frozenAt + 200);
      const lastAccepted = Math.max(...accepted);
      // No write acknowledged at or after the earliest instant the lease could have expired.
      expect(lastAccepted).toBeLessThan(renewedAtMs + ttlMs);
      expect(refused.some((t) => t > frozenAt)).toBe(true);
      // /primary answers 503 now: HAProxy would not route to it.
      const health = await fetch(new URL("/primary", primary.apiUrl), { method: "OPTIONS" });
      expect(health.status).toBe(503);
      process.stdout.write(`etcd loss: last write acknowledged ${lastAccepted - renewedAtMs} ms after the last renewal was sent (ttl ${ttlMs} ms)\n`);
    } finally {
      writing = false;
      cluster.thawEtcd();
      await loop;
    }
    // Recovery: one primary, two replicas, writes through HAProxy work again.
    await cluster.waitUntilReady({ timeoutMs: 60_000, replicas: 2 });
    const writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 50 }).start();
    try {
      await writer.waitForAcks(5, 20_000);
    } finally {
      await writer.stop();
    }
  });
});
