// Every chaos scenario, by name (the order of the full matrix).
import { killDuringBasebackup } from './basebackup.js';
import { etcdLeaderLoss, etcdMemberLoss, etcdQuorumLoss } from './etcd.js';
import { latency, partitionEtcd, partitionHaproxy, partitionReplicas } from './network.js';
import { agentFreeze, killAgent, killPostgres, nodeLoss } from './process.js';
import { killDuringSwitchover, switchoverUnderLoad } from './switchover.js';
import { ttlLoweredPartitionEtcd, ttlRaisedPartitionEtcd } from './ttl.js';
import { etcdDataLoss } from './etcd-data-loss.js';
import type { Scenario } from './types.js';

export type { Scenario, ScenarioContext, ScenarioOutcome, ExpectedOverlap } from './types.js';

export const SCENARIOS: readonly Scenario[] = [
  killPostgres, killAgent, nodeLoss, agentFreeze,
  partitionEtcd, partitionReplicas, partitionHaproxy,
  etcdMemberLoss, etcdLeaderLoss, etcdQuorumLoss,
  latency, switchoverUnderLoad, killDuringSwitchover, killDuringBasebackup,
  ttlRaisedPartitionEtcd, ttlLoweredPartitionEtcd, etcdDataLoss,
];

/** The short subset the default test command runs. */
export const SUBSET: readonly string[] = ['node-loss', 'partition-etcd', 'agent-freeze'];

/** Names → scenarios; "all" and "subset" expand. Throws on an unknown name, listing the known ones. */
export function resolveScenarios(names: readonly string[]): Scenario[] {
  const out: Scenario[] = [];
  for (const name of names) {
    if (name === 'all') out.push(...SCENARIOS);
    else if (name === 'subset') out.push(...SUBSET.map((n) => SCENARIOS.find((s) => s.name === n)!));
    else {
      const s = SCENARIOS.find((x) => x.name === name);
      if (!s) throw new Error(`unknown chaos scenario "${name}"; known: ${SCENARIOS.map((x) => x.name).join(', ')}, all, subset`);
      out.push(s);
    }
  }
  return out;
}
