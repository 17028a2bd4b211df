// A clean stop of the agent (SIGTERM): the primary hands over to a caught-up replica if one
// exists; otherwise it stops PostgreSQL while still holding the key (a fast shutdown sends every
// WAL record to the connected replicas first) and only then releases the key. Shared by the
// daemon and the simulator.
import type { Logger } from '../log.js';
import { eligibleReplicas } from '../core/eligibility.js';
import type { ClusterView } from '../core/types.js';
import type { Dcs, PostgresNode } from '../ports/ports.js';
import type { HaLoop } from './ha-loop.js';
import type { NodeStateStore } from './node-state.js';

export interface ShutdownDeps {
  readonly name: string;
  readonly loop: HaLoop;
  readonly dcs: Dcs;
  readonly pg: PostgresNode;
  readonly store: NodeStateStore;
  readonly logger: Logger;
}

/**
 * Before the leader releases its key after a clean stop: publish the shutdown checkpoint as the
 * cluster's position, marked `shutdown` unless a replica confirmed it received it. Then no
 * replica that lacks part of it may take over (issue 11, item 3: a whole-cluster stop lost writes
 * when a replica that had stopped earlier promoted against a stale `status`).
 */
async function publishShutdownPosition(d: ShutdownDeps, cluster: ClusterView): Promise<void> {
  const stopped = await d.pg.probe().catch(() => null);
  const checkpoint = stopped?.checkpointLsn ?? null;
  const timeline = stopped?.timeline ?? null;
  if (checkpoint === null || timeline === null) return;
  const confirmed: string[] = [];
  for (const m of cluster.members) {
    if (m.name === d.name) continue;
    const seen = await d.pg.peerReceivedLsn({ name: m.name, host: m.host, port: m.port }).catch(() => null);
    if (seen !== null && seen > checkpoint) confirmed.push(m.name);
  }
  const status = { optime: checkpoint, timeline, ...(confirmed.length === 0 ? { shutdown: true } : {}) };
  const written = await d.dcs.writeStatus(status).catch(() => false);
  d.logger.info({ action: 'shutdown', checkpoint, confirmed, written }, confirmed.length
    ? `published my shutdown checkpoint ${checkpoint}; received by ${confirmed.join(', ')}`
    : `published my shutdown checkpoint ${checkpoint}; no replica confirmed it: only one with all of it may take over`);
}

export async function shutDown(d: ShutdownDeps, reason: string): Promise<void> {
  const { loop, logger } = d;
  logger.info({ reason }, 'stopping');
  await loop.stop();
  const handover = await loop.handOverForShutdown().catch((err: unknown) => {
    logger.error({ err: String(err) }, 'handover before shutdown failed');
    return null;
  });
  const state = d.store.get();
  const wasLeader = state.cluster?.leader === d.name && handover !== 'handed_over';
  await d.pg.stop('fast').catch((err: unknown) => logger.error({ err: String(err) }, 'stopping PostgreSQL failed'));
  if (wasLeader && state.cluster) await publishShutdownPosition(d, state.cluster);
  loop.lease.stop();
  if (wasLeader && state.cluster) {
    const eligible = eligibleReplicas(d.name, state.cluster, loop.settings);
    logger.info({ action: 'release_leader', eligible }, eligible.length
      ? `releasing the leader key for ${eligible.join(', ')}`
      : 'no eligible replica; releasing the leader key as PostgreSQL is stopped');
    await d.dcs.releaseLeader().catch(() => false);
  }
  await d.dcs.close({ revokeLease: true }).catch(() => undefined);
  logger.info('stopped');
}
