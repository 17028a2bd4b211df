// A clean stop of the agent (SIGTERM): the primary hands over to a caught-up replica if one
// exists; otherwise it stops PostgreSQL while still holding the key (a fast shutdown sends every
// WAL record to the connected replicas first) and only then releases the key. Shared by the
// daemon and the simulator.
import type { Logger } from '../log.js';
import { eligibleReplicas } from '../core/eligibility.js';
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
