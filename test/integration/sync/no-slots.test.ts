// use_slots: false — replicas stream without a replication slot, and the primary keeps none.
// (Regression: primary_slot_name was always written, so replicas waited for a slot nobody made.)
import { describe, expect, it } from 'vitest';
import { withCluster } from '../../harness/index.js';
import { direct } from '../cluster/support.js';

describe('use_slots off', () => {
  const cluster = withCluster({ agents: 3, scope: 'itnoslots', dcs: { use_slots: false }, waitReady: { timeoutMs: 120_000 } });

  it('replicas stream without slots', async () => {
    const primary = await cluster.waitForPrimary();
    const rows = await cluster.waitFor(() => direct<{ application_name: string; state: string }>(cluster, primary,
      'SELECT application_name, state FROM pg_stat_replication'), {
      timeoutMs: 30_000, what: 'two streaming replicas', until: (r) => r.filter((x) => x.state === 'streaming').length === 2,
    });
    expect(rows).toHaveLength(2);
    expect(await direct(cluster, primary, 'SELECT slot_name FROM pg_replication_slots')).toEqual([]);
  });
});
