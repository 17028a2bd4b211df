// The runtime's side of the mutating API (ControlPort): switchover and failover go through the
// `failover` key and the leader's HA loop; restart and reinitialize run exclusively of the loop.
import type { Clock } from '../clock.js';
import type { DynamicConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { sleep } from '../clock.js';
import { isEligible, memberAsCandidate } from '../core/eligibility.js';
import type { ClusterView, HaSettings } from '../core/types.js';
import type { ControlPort, ControlResult, SwitchoverRequest } from '../runtime/control.js';
import type { Dcs, PeerStatusFetcher, PostgresNode } from '../ports/ports.js';
import type { HaLoop } from '../runtime/ha-loop.js';

export interface ControlDeps {
  readonly name: string;
  readonly dcs: Dcs;
  readonly pg: PostgresNode;
  readonly loop: HaLoop;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly bootstrapConfig: DynamicConfig;
  readonly fetchPeer: PeerStatusFetcher;
  /** Re-read the local config file (log level, …); called by POST /reload. */
  readonly reloadLocalConfig?: () => Promise<void>;
  /** How long a switchover or failover may take before we answer 503. */
  readonly timeoutMs?: number;
}

const result = (status: ControlResult['status'], message: string, details?: Record<string, unknown>): ControlResult =>
  details ? { status, message, details } : { status, message };

function qualifies(cluster: ClusterView, name: string, settings: HaSettings): { ok: boolean; why?: string } {
  const m = cluster.members.find((x) => x.name === name);
  if (!m) return { ok: false, why: `${name} is not a member of the cluster` };
  const v = isEligible(memberAsCandidate(m), cluster, settings);
  return v.ok ? { ok: true } : { ok: false, why: `${name} does not qualify: ${v.why}` };
}

export function createControl(d: ControlDeps): ControlPort {
  const timeoutMs = d.timeoutMs ?? 30_000;

  async function waitForLeader(want: (leader: string | null) => boolean, from: string | null): Promise<ControlResult> {
    const started = d.clock.now();
    while (d.clock.now() - started < timeoutMs) {
      const snap = await d.dcs.readCluster().catch(() => null);
      const leader = snap?.view.leader ?? null;
      if (snap && want(leader)) {
        return result(200, `${leader} is the new leader`, { from, to: leader, took_ms: Math.round(d.clock.now() - started) });
      }
      if (snap && !snap.view.failover && leader === from && from !== null) {
        // The leader cleared the request without handing over: ask it why.
        const m = snap.view.members.find((x) => x.name === from);
        const doc = m ? await d.fetchPeer(m.apiUrl, 1000).catch(() => null) as { last_decision?: { reason?: string } } | null : null;
        return result(412, `switchover refused by ${from}: ${doc?.last_decision?.reason ?? 'see its log'}`);
      }
      await sleep(d.clock, 50);
    }
    return result(503, `no new leader after ${timeoutMs} ms`);
  }

  const control: ControlPort = {
    async readConfig() {
      const snap = await d.dcs.readCluster();
      return { config: snap.config ?? d.bootstrapConfig, revision: snap.configRevision };
    },

    writeConfig: (config, revision) => d.dcs.writeConfig(config, revision),

    async switchover(req: SwitchoverRequest) {
      if (req.candidate !== undefined && req.candidate === req.leader) {
        return result(400, 'candidate and leader are the same member');
      }
      const snap = await d.dcs.readCluster();
      const cluster = snap.view;
      if (cluster.leader === null) return result(412, 'the cluster has no leader; use failover');
      if (cluster.leader !== req.leader) return result(412, `leader is ${cluster.leader}, not ${req.leader}`);
      const settings = d.loop.settings;
      if (req.candidate !== undefined) {
        const q = qualifies(cluster, req.candidate, settings);
        if (!q.ok) return result(412, q.why!);
      } else if (!cluster.members.some((m) => m.name !== req.leader && qualifies(cluster, m.name, settings).ok)) {
        const why = cluster.members.filter((m) => m.name !== req.leader).map((m) => qualifies(cluster, m.name, settings).why).join('; ');
        return result(412, `no candidate qualifies${why ? `: ${why}` : ''}`);
      }
      if (req.scheduledAt !== undefined) {
        await d.dcs.setFailover({ leader: req.leader, ...(req.candidate ? { candidate: req.candidate } : {}), scheduledAt: req.scheduledAt });
        return result(202, `switchover from ${req.leader} scheduled at ${req.scheduledAt}`);
      }
      d.logger.info({ action: 'switchover', ...req }, 'switchover requested');
      await d.dcs.setFailover({ leader: req.leader, ...(req.candidate ? { candidate: req.candidate } : {}) });
      return waitForLeader((l) => l !== null && l !== req.leader && (req.candidate === undefined || l === req.candidate), req.leader);
    },

    async cancelSwitchover() {
      const snap = await d.dcs.readCluster();
      if (!snap.view.failover?.scheduledAt) return result(412, 'no scheduled switchover');
      await d.dcs.setFailover(null);
      return result(200, 'scheduled switchover cancelled');
    },

    async failover({ candidate }) {
      const snap = await d.dcs.readCluster();
      const cluster = snap.view;
      const m = cluster.members.find((x) => x.name === candidate);
      if (!m) return result(412, `${candidate} is not a member of the cluster`);
      if (cluster.leader === candidate) return result(412, `${candidate} is already the leader`);
      if (cluster.leader !== null) return control.switchover({ leader: cluster.leader, candidate });
      if (m.state !== 'running' || m.role !== 'replica') return result(412, `${candidate} is not a running replica`);
      d.logger.warn({ action: 'failover', candidate }, `manual failover to ${candidate} requested`);
      await d.dcs.setFailover({ candidate });
      return waitForLeader((l) => l === candidate, null);
    },

    async restart() {
      await d.loop.runExclusive(async () => {
        await d.pg.stop('fast');
        await d.pg.start();
      });
      return result(200, `PostgreSQL on ${d.name} restarted`);
    },

    async reinitialize() {
      const snap = await d.dcs.readCluster();
      if (snap.view.leader === d.name) return result(412, `${d.name} is the leader; switch over first`);
      if (snap.view.leader === null) return result(412, 'no leader to rebuild from');
      await d.loop.runExclusive(() => d.loop.reinitialize());
      return result(200, `${d.name} rebuilt from ${snap.view.leader}`);
    },

    async reload() {
      await d.reloadLocalConfig?.();
      await d.pg.reloadConfig();
      return result(200, 'configuration reloaded');
    },
  };
  return control;
}
