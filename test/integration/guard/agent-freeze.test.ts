// The fence guard with a real PostgreSQL: the primary's agent is SIGSTOPped; its guard (a process
// of its own) kills the postmaster and every backend before the lease deadline, so the old primary
// stops accepting writes before a replica can be promoted. After SIGCONT the old node rejoins.
import { readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withCluster } from '../../harness/index.js';
import { agentLog, direct } from '../cluster/support.js';

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Live postgres processes working in `dataDir`. */
function postgresIn(dataDir: string): number[] {
  const want = realpathSync(dataDir);
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres' && readlinkSync(`/proc/${pid}/cwd`) === want && alive(pid);
    } catch {
      return false;
    }
  });
}

describe('fence guard: a frozen primary agent', () => {
  const cluster = withCluster({ agents: 3, scope: 'itguard', waitReady: { timeoutMs: 120_000 } });

  it('has its PostgreSQL killed before the lease deadline, before a replica is promoted', async () => {
    const old = await cluster.waitForPrimary();
    const pm = cluster.postmasterPid(old)!;
    expect(pm).toBeGreaterThan(0);
    const before = postgresIn(old.dataDir);
    expect(before.length).toBeGreaterThan(3); // postmaster, checkpointer, walwriter, walsenders…
    await direct(cluster, old, 'SELECT 1');

    const frozenAt = performance.now();
    cluster.freezeAgent(old);
    let pmDeadAt: number | null = null;
    let promotedAt: number | null = null;
    let next: string | null = null;
    try {
      const until = frozenAt + 20_000;
      while (performance.now() < until && (pmDeadAt === null || promotedAt === null)) {
        if (pmDeadAt === null && !alive(pm)) pmDeadAt = performance.now();
        if (promotedAt === null) {
          for (const n of cluster.nodes.filter((x) => x.name !== old.name)) {
            const r = await direct<{ r: boolean }>(cluster, n, 'SELECT pg_is_in_recovery() AS r', [], 500).catch(() => null);
            if (r?.[0]?.r === false) {
              promotedAt = performance.now();
              next = n.name;
            }
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(pmDeadAt, 'the guard killed the frozen primary\'s postmaster').not.toBeNull();
      expect(promotedAt, 'a replica was promoted').not.toBeNull();
      expect(pmDeadAt!).toBeLessThan(promotedAt!);
      // Nothing of the old PostgreSQL survives: no backend can commit a write.
      expect(postgresIn(old.dataDir)).toEqual([]);
      process.stdout.write(`guard: postmaster dead ${Math.round(pmDeadAt! - frozenAt)} ms after SIGSTOP; ${next} promoted ${Math.round(promotedAt! - frozenAt)} ms after\n`);
    } finally {
      cluster.thawAgent(old);
    }
    // The thawed agent reads the guard's report: it fired before the deadline (negative = early).
    const fired = await cluster.waitFor(async () => agentLog(old).find((l) => l.msg.startsWith('fence guard: the lease deadline passed unfed')) ?? null, {
      timeoutMs: 10_000, what: 'the guard\'s report in the agent log', until: (l) => l !== null,
    });
    expect(fired!.survivors).toBe(0);
    expect(Number(fired!.ms_after_deadline)).toBeLessThanOrEqual(0);
    expect(Number(fired!.killed)).toBeGreaterThanOrEqual(before.length);
    await cluster.waitUntilReady({ timeoutMs: 90_000, replicas: 2 });
    expect((await cluster.apiStatus(old)).role).toBe('replica');
  });
});
