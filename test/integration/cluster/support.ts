// Shared bits of the cluster integration tests: reading agents' JSON logs and direct SQL.
import { readFileSync } from 'node:fs';
import type { LocalCluster, LocalNode } from '../../harness/index.js';
import { sql } from '../../harness/index.js';

export interface LogLine {
  readonly time: number;
  readonly msg: string;
  readonly action?: string;
  readonly rule?: string;
  readonly outcome?: string;
  readonly [key: string]: unknown;
}

/** The agent's pino JSON lines (non-JSON lines are skipped). */
export function agentLog(node: LocalNode): LogLine[] {
  return readFileSync(node.logFile, 'utf8').split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return [];
    try {
      return [JSON.parse(l) as LogLine];
    } catch {
      return [];
    }
  });
}

/** Runs `query` on the node's PostgreSQL directly (not through HAProxy). */
export function direct<R extends Record<string, unknown> = Record<string, unknown>>(
  cluster: LocalCluster, node: LocalNode, query: string, params: unknown[] = [], timeoutMs = 3000,
): Promise<R[]> {
  return sql<R>(cluster.pgConnString(node), query, params, { timeoutMs });
}

export function otherNodes(cluster: LocalCluster, node: LocalNode): LocalNode[] {
  return cluster.nodes.filter((n) => n.name !== node.name);
}
