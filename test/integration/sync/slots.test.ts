// Physical replication slots, one per member (agent/core/slots.ts), on a real cluster:
//   - after a failover the new primary has a slot for every remaining member, and each replica
//     streams through its own slot;
//   - a member whose key disappears keeps its slot for the retention (max(30 s, 10 × ttl), see
//     agent/runtime/leadership.ts slotRetentionMs): coming back within it, it finds the slot and streams;
//   - after the retention the slot is dropped (so a removed member cannot hold WAL forever).
import { describe, expect, it } from 'vitest';
import { slotNameFor } from '../../../agent/core/slots.js';
import { slotRetentionMs } from '../../../agent/runtime/leadership.js';
import { withCluster, type LocalCluster, type LocalNode } from '../../harness/index.js';
import { direct, otherNodes } from '../cluster/support.js';
import { observeFor, slots, waitStreaming, type SlotRow } from './support.js';

const TTL_MS = 3000; // the default ttl
const RETENTION_MS = slotRetentionMs(TTL_MS);

async function memberKey(cluster: LocalCluster, name: string): Promise<string> {
  const r = await cluster.etcdctl(['get', '--print-value-only', `${cluster.namespace}/${cluster.scope}/members/${name}`]);
  if (!r.ok) throw new Error(`etcdctl get members/${name}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

function waitMemberKeyGone(cluster: LocalCluster, name: string): Promise<string> {
  return cluster.waitFor(() => memberKey(cluster, name), { timeoutMs: 30_000, what: `member key of ${name} to disappear`, until: (v) => v === '' });
}

/** Each replica streams through the slot named after it (pg_stat_replication joined with the slot's walsender). */
async function streamingThroughOwnSlot(cluster: LocalCluster, primary: LocalNode): Promise<Record<string, string | null>> {
  const rows = await direct<{ application_name: string; slot_name: string | null }>(cluster, primary,
    `SELECT r.application_name, s.slot_name FROM pg_stat_replication r
       LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE r.state = 'streaming' ORDER BY 1`);
  return Object.fromEntries(rows.map((r) => [r.application_name, r.slot_name]));
}

const byName = (rows: readonly SlotRow[]) => Object.fromEntries(rows.map((r) => [r.slot_name, r]));

describe('replication slots', () => {
  const cluster = withCluster({ agents: 3, scope: 'itslots', waitReady: { timeoutMs: 120_000 } });

  it('after a failover the new primary has a physical slot for each remaining member', async () => {
    const { primary, replicas } = await cluster.waitUntilReady({ timeoutMs: 120_000 });
    await cluster.waitFor(() => streamingThroughOwnSlot(cluster, primary), {
      timeoutMs: 30_000, what: 'both replicas streaming through their own slots',
      until: (m) => replicas.every((r) => m[r.name] === slotNameFor(r.name)),
    });
    expect((await slots(cluster, primary)).map((s) => [s.slot_name, s.slot_type])).toEqual(
      replicas.map((r) => [slotNameFor(r.name), 'physical']).sort());

    await cluster.killNode(primary);
    const next = await cluster.waitForPrimary({ exclude: [primary.name], timeoutMs: 60_000 });
    const other = replicas.find((r) => r.name !== next.name)!;
    // The remaining replica streams through its slot on the new primary; the killed member's
    // slot is already there too (it is kept for members seen recently), waiting for it.
    const s = await cluster.waitFor(() => slots(cluster, next), {
      timeoutMs: 30_000, what: `${next.name} to have slots for ${other.name} (active) and ${primary.name}`,
      until: (rows) => byName(rows)[slotNameFor(other.name)]?.active === true && byName(rows)[slotNameFor(primary.name)] !== undefined,
    });
    expect(s.map((r) => r.slot_name)).toEqual([slotNameFor(other.name), slotNameFor(primary.name)].sort());
    expect(s.every((r) => r.slot_type === 'physical')).toBe(true);

    cluster.startAgent(primary);
    await waitStreaming(cluster, next, primary.name, 120_000);
    await cluster.waitFor(() => streamingThroughOwnSlot(cluster, next), {
      timeoutMs: 30_000, what: 'every replica of the new primary streaming through its own slot',
      until: (m) => m[other.name] === slotNameFor(other.name) && m[primary.name] === slotNameFor(primary.name),
    });
    await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
  }, 300_000);

  it('a member that comes back within the retention finds its slot and streams', async () => {
    const primary = await cluster.waitForPrimary();
    const member = otherNodes(cluster, primary)[0]!;
    const slot = slotNameFor(member.name);
    await cluster.stopAgent(member);
    await waitMemberKeyGone(cluster, member.name);
    // Away for a third of the retention: the slot stays, unused, the whole time.
    const seen = await observeFor(Math.min(10_000, RETENTION_MS / 3), 500, async () => byName(await slots(cluster, primary))[slot]);
    expect(seen.every((r) => r !== undefined && r.active === false), `slot ${slot} kept while ${member.name} is away`).toBe(true);
    expect(seen.at(-1)!.restart_lsn).not.toBeNull();
    cluster.startAgent(member);
    await waitStreaming(cluster, primary, member.name, 120_000);
    const m = await cluster.waitFor(() => streamingThroughOwnSlot(cluster, primary), {
      timeoutMs: 30_000, what: `${member.name} streaming through ${slot}`, until: (x) => x[member.name] === slot,
    });
    expect(m[member.name]).toBe(slot);
    await cluster.waitUntilReady({ timeoutMs: 120_000, replicas: 2 });
  }, 300_000);

  it(`drops the slot of a member gone longer than the retention (${RETENTION_MS / 1000} s)`, async () => {
    const primary = await cluster.waitForPrimary();
    const member = otherNodes(cluster, primary)[1]!;
    const slot = slotNameFor(member.name);
    await cluster.stopAgent(member);
    await waitMemberKeyGone(cluster, member.name);
    const gone = Date.now();
    // Well inside the retention the slot is still there.
    const early = await observeFor(RETENTION_MS / 2, 1000, async () => byName(await slots(cluster, primary))[slot] !== undefined);
    expect(early.every(Boolean), `slot ${slot} kept for the first ${RETENTION_MS / 2000} s`).toBe(true);
    await cluster.waitFor(() => slots(cluster, primary), {
      timeoutMs: RETENTION_MS + 30_000, intervalMs: 500, what: `slot ${slot} to be dropped after the retention`,
      until: (rows) => byName(rows)[slot] === undefined,
    });
    const droppedAfter = Date.now() - gone;
    process.stdout.write(`[slots] ${slot} dropped ${droppedAfter} ms after ${member.name}'s member key disappeared (retention ${RETENTION_MS} ms)\n`);
    // Retention counts from the last cycle that saw the member, at most a loop or two before its key vanished.
    expect(droppedAfter).toBeGreaterThanOrEqual(RETENTION_MS - 5000);
    // The other replica's slot is untouched.
    const rest = otherNodes(cluster, primary).find((n) => n.name !== member.name)!;
    expect(byName(await slots(cluster, primary))[slotNameFor(rest.name)]?.active).toBe(true);

    // Coming back later still works: the slot is created again and the member streams through it.
    cluster.startAgent(member);
    await waitStreaming(cluster, primary, member.name, 120_000);
    await cluster.waitFor(() => streamingThroughOwnSlot(cluster, primary), {
      timeoutMs: 30_000, what: `${member.name} streaming through a new ${slot}`, until: (x) => x[member.name] === slot,
    });
  }, 300_000);
});
