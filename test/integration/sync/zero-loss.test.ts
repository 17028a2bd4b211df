// Synchronous mode never loses an acknowledged commit (rule 5): a writer commits continuously
// through HAProxy while the primary is killed N times in a row (each time the current primary,
// so the role moves around the nodes). After each heal — a new primary, the killed node back and
// streaming, a synchronous standby published again — every acknowledged row must be on the
// current primary, and the node promoted each time must be the one `sync` named.
import { describe, expect, it } from 'vitest';
import { Writer, withCluster, type LocalNode } from '../../harness/index.js';
import { syncKey, waitStreaming, waitSyncPublished } from './support.js';

// The full run is 20 kills (`npm run test:zero-loss`, ~3 min); the default suite runs 6
// to stay within its time budget. ZERO_LOSS_KILLS overrides.
const KILLS = Number(process.env.ZERO_LOSS_KILLS ?? 6);
if (!Number.isInteger(KILLS) || KILLS < 1) throw new Error(`ZERO_LOSS_KILLS must be a positive integer, got ${process.env.ZERO_LOSS_KILLS}`);

describe('synchronous mode: zero loss across repeated primary kills', () => {
  const cluster = withCluster({ agents: 3, scope: 'itzeroloss', dcs: { synchronous_mode: true }, waitReady: { timeoutMs: 120_000 } });

  it(`keeps every acknowledged commit across ${KILLS} primary kills`, async () => {
    let { primary } = await cluster.waitUntilReady({ timeoutMs: 120_000 });
    await waitSyncPublished(cluster, primary.name);
    // A statement timeout well above any synchronous-commit wait a failover causes: a commit
    // whose wait is cancelled is acknowledged with a warning but not replicated (a documented
    // PostgreSQL caveat), which this test is not about. Such acks are counted below.
    const writer = new Writer({ connString: cluster.rwConnString(), intervalMs: 30, statementTimeoutMs: 15_000, connectTimeoutMs: 1000 }).start();
    const victims: string[] = [];
    const failoverMs: number[] = [];
    let checked = 0;
    try {
      await writer.waitForAcks(20, 30_000);
      for (let i = 1; i <= KILLS; i++) {
        const victim: LocalNode = primary;
        const key = await waitSyncPublished(cluster, victim.name);
        await writer.waitForAcks(10, 30_000); // commits are flowing through the victim
        const t0 = Date.now();
        await cluster.killNode(victim);
        victims.push(victim.name);
        primary = await cluster.waitForPrimary({ exclude: [victim.name], timeoutMs: 60_000 });
        failoverMs.push(Date.now() - t0);
        expect(primary.name, `kill ${i}: only the published synchronous standby may be promoted`).toBe(key.sync_standbys[0]);
        cluster.startAgent(victim);
        await waitStreaming(cluster, primary, victim.name, 120_000);
        await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
        await waitSyncPublished(cluster, primary.name);
        await writer.waitForAcks(10, 30_000); // and flowing through the new primary
        // The writer keeps going while we read the table back: judge only the rows acknowledged
        // before the read started (later ones may be missing from its snapshot, legitimately).
        const ackedBefore = new Set(writer.acked.map((a) => a.id));
        const v = await writer.verify(cluster.rwConnString(), 15_000);
        const lost = v.lost.filter((id) => ackedBefore.has(id));
        checked += ackedBefore.size;
        process.stdout.write(`[zero-loss] kill ${i}/${KILLS}: ${victim.name} → ${primary.name} in ${failoverMs.at(-1)} ms; ` +
          `${ackedBefore.size} acknowledged rows checked, ${v.rows} present, lost ${lost.length}\n`);
        expect(lost, `kill ${i} (${victim.name} → ${primary.name}): acknowledged rows missing on the new primary`).toEqual([]);
      }
    } finally {
      const report = await writer.stop();
      process.stdout.write(`[zero-loss] writer: ${JSON.stringify(report)}\n`);
    }
    const final = await writer.verify(cluster.rwConnString(), 15_000);
    const cancelled = writer.acked.filter((a) => a.notice && /synchronous replication/i.test(a.notice));
    process.stdout.write(`[zero-loss] ${KILLS} kills (${victims.join(' ')}); ${writer.acked.length} acknowledged rows at the end, ` +
      `${checked} row checks in total; ${cancelled.length} acks carried a cancelled-sync-wait warning; ` +
      `failover ms: ${failoverMs.join(' ')}\n`);
    expect(final.lost).toEqual([]);
    expect(final.phantom, 'rows in the table that were never attempted in doubt').toEqual([]);
    expect(cancelled).toEqual([]);
    // The role alternates (the killed node returns as a replica; the sync standby takes over).
    expect(new Set(victims).size, 'the primary role alternated between nodes').toBeGreaterThanOrEqual(2);
    expect((await syncKey(cluster))?.leader).toBe(primary.name);
  }, 900_000);
});
