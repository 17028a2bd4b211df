// A LocalCluster's settings: the options with their defaults filled in and checked, the run's
// id and directories, and the credentials generated for this run.
import { join, resolve } from 'node:path';
import type { LocalCredentials } from './agent-config.js';
import { DEFAULT_BASE_DIR, DEFAULT_TIMEOUTS, type LocalClusterOptions, type LocalClusterTimeouts } from './cluster-types.js';
import { findRepoDir, newRunId, secret } from './run-dir.js';

export interface ClusterSettings {
  readonly opts: LocalClusterOptions;
  readonly runId: string;
  readonly runDir: string;
  readonly baseDir: string;
  readonly scope: string;
  readonly namespace: string;
  readonly credentials: LocalCredentials;
  readonly repoDir: string;
  /** dist/agent/cli.js */
  readonly cli: string;
  readonly pgBinDir: string;
  readonly bins: { etcd: string; etcdctl: string; haproxy: string };
  readonly timeouts: LocalClusterTimeouts;
  readonly agentCount: number;
  readonly etcdCount: number;
}

export function resolveSettings(opts: LocalClusterOptions): ClusterSettings {
  const agentCount = opts.agents ?? 3;
  const etcdCount = opts.etcdMembers ?? 3;
  if (!Number.isInteger(agentCount) || agentCount < 0) throw new Error('LocalCluster: agents must be an integer ≥ 0');
  if (!Number.isInteger(etcdCount) || etcdCount < 1) throw new Error('LocalCluster: etcdMembers must be an integer ≥ 1');
  const runId = opts.runId ?? newRunId();
  if (!/^[A-Za-z0-9._-]+$/.test(runId)) throw new Error(`LocalCluster: runId "${runId}" must match [A-Za-z0-9._-]+`);
  const baseDir = resolve(opts.baseDir ?? DEFAULT_BASE_DIR);
  const repoDir = opts.repoDir ? resolve(opts.repoDir) : findRepoDir();
  return {
    opts,
    runId,
    runDir: join(baseDir, runId),
    baseDir,
    scope: opts.scope ?? 'local',
    namespace: opts.namespace ?? '/pgwarden',
    credentials: {
      superuser: { username: 'postgres', password: secret() },
      replication: { username: 'replicator', password: secret() },
      api: { username: 'pgwarden', password: secret() },
    },
    repoDir,
    cli: join(repoDir, 'dist', 'agent', 'cli.js'),
    pgBinDir: opts.pgBinDir ?? '/usr/lib/postgresql/15/bin',
    bins: {
      etcd: opts.etcdBin ?? '/usr/bin/etcd',
      etcdctl: opts.etcdctlBin ?? '/usr/bin/etcdctl',
      haproxy: opts.haproxyBin ?? '/usr/sbin/haproxy',
    },
    timeouts: { ...DEFAULT_TIMEOUTS, ...opts.timeouts },
    agentCount,
    etcdCount,
  };
}
