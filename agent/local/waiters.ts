// LocalCluster's waiters over the agents' status documents and HAProxy's view: one running
// primary; a ready cluster (primary, replicas, and HAProxy routing to them).
import type { AgentStatus, LocalNode } from './cluster-types.js';
import type { HaproxyServerState } from './haproxy.js';
import type { WaitOptions } from './wait.js';

/** What the waiters read of a cluster. */
export interface ClusterProbe {
  /** Every node (started or not). */
  allNodes(): readonly LocalNode[];
  node(name: string): LocalNode;
  agentRunning(n: LocalNode): boolean;
  /** How many agents are running now. */
  runningAgents(): number;
  apiStatus(n: LocalNode, timeoutMs: number): Promise<AgentStatus>;
  /** Null when HAProxy was not started. */
  haproxy(): { servers(): Promise<HaproxyServerState[]>; proxyScope: string } | null;
  waitFor<T>(probe: () => T | Promise<T>, opts: WaitOptions<T>): Promise<T>;
  /** Reasons to give up early: every agent is dead; an agent died right after its start. */
  agentsAllDead(): string | null;
  agentExitedEarly(): string | null;
}

/** Status of every node whose agent is running (nodes that do not answer are left out). */
export async function statuses(c: ClusterProbe, timeoutMs = 1000): Promise<Record<string, AgentStatus>> {
  const out: Record<string, AgentStatus> = {};
  await Promise.all(
    c.allNodes().filter((n) => c.agentRunning(n)).map(async (n) => {
      try {
        out[n.name] = await c.apiStatus(n, timeoutMs);
      } catch {
        // not answering: left out
      }
    }),
  );
  return out;
}

/** Wait until exactly one running agent reports role primary with PostgreSQL running. */
export async function waitForPrimary(c: ClusterProbe, opts: { timeoutMs?: number; exclude?: readonly string[] } = {}): Promise<LocalNode> {
  const running = (s: Record<string, AgentStatus>) => Object.entries(s).filter(([, st]) => st.role === 'primary' && st.state === 'running');
  const summary = await c.waitFor(() => statuses(c), {
    timeoutMs: opts.timeoutMs ?? 60_000,
    intervalMs: 200,
    what: 'one running primary',
    until: (s) => {
      const primaries = running(s);
      return primaries.length === 1 && !(opts.exclude ?? []).includes(primaries[0]![0]);
    },
    failIf: () => c.agentsAllDead(),
  });
  // The running one: a fenced former primary may still say role "primary" (state stopped).
  return c.node(running(summary)[0]![0]);
}

/**
 * Wait until one node is a running primary, `replicas` others (default: every other running
 * agent) are running replicas, and HAProxy (when started) routes read-write traffic to the primary
 * only and read-only traffic to those replicas (except the ones tagged noloadbalance).
 */
export async function waitUntilReady(
  c: ClusterProbe, opts: { timeoutMs?: number; replicas?: number } = {},
): Promise<{ primary: LocalNode; replicas: LocalNode[] }> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const want = () => opts.replicas ?? Math.max(0, c.runningAgents() - 1);
  const s = await c.waitFor(() => statuses(c), {
    timeoutMs,
    intervalMs: 250,
    what: `one running primary and ${opts.replicas ?? 'all other'} running replicas`,
    until: (st) => {
      const v = Object.values(st);
      return v.filter((x) => x.role === 'primary' && x.state === 'running').length === 1 &&
        v.filter((x) => x.role === 'replica' && x.state === 'running').length >= want();
    },
    failIf: () => c.agentsAllDead() ?? c.agentExitedEarly(),
  });
  const primary = c.node(Object.entries(s).find(([, x]) => x.role === 'primary')![0]);
  const replicas = Object.entries(s).filter(([, x]) => x.role === 'replica' && x.state === 'running').map(([k]) => c.node(k));
  const haproxy = c.haproxy();
  if (haproxy) {
    const balanced = replicas.filter((n) => n.tags.noloadbalance !== true).map((n) => n.name);
    const up = (rows: readonly HaproxyServerState[], suffix: string) =>
      rows.filter((r) => r.proxy === `${haproxy.proxyScope}_${suffix}` && r.status.startsWith('UP')).map((r) => r.server);
    await c.waitFor(() => haproxy.servers(), {
      timeoutMs,
      what: `HAProxy to route read-write traffic to ${primary.name} only and read-only traffic to ${balanced.join(', ') || 'nobody'}`,
      until: (rows) => up(rows, 'rw').join(',') === primary.name && balanced.every((name) => up(rows, 'ro').includes(name)),
    });
  }
  return { primary, replicas };
}
