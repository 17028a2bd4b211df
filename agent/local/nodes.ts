// A LocalCluster's nodes: their directories, addresses and pgwarden.yml, and how an agent is
// spawned (on loopback, or inside the node's network namespace).
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deepMerge, renderAgentConfig, type LocalCredentials } from './agent-config.js';
import { LOCALHOST, type LocalClusterOptions, type LocalNode } from './cluster-types.js';
import type { NetnsNetwork } from './netns.js';
import { findSetpriv, type ProcessSupervisor, type RunAs, type TrackedProcess } from './supervisor.js';

export function describeNode(runDir: string, net: NetnsNetwork | null, opts: LocalClusterOptions, i: number, apiPort: number, pgPort: number): LocalNode {
  const name = `node${i + 1}`;
  const dir = join(runDir, name);
  const host = net ? net.node(name).address : LOCALHOST;
  return {
    name,
    index: i,
    dir,
    dataDir: join(dir, 'data'),
    configFile: join(dir, 'pgwarden.yml'),
    logFile: join(dir, 'agent.log'),
    apiHost: host,
    apiPort,
    apiUrl: `http://${host}:${apiPort}`,
    pgHost: host,
    pgPort,
    tags: { ...opts.tags?.[name] },
  };
}

export interface NodeDirsInput {
  readonly opts: LocalClusterOptions;
  readonly scope: string;
  readonly namespace: string;
  readonly etcdHosts: readonly string[];
  readonly pgBinDir: string;
  readonly credentials: LocalCredentials;
  readonly net: NetnsNetwork | null;
  readonly runAs: RunAs | null;
}

/** Create each node's directory and write its pgwarden.yml (owned by the agents' user). */
export function prepareNodeDirs(nodes: readonly LocalNode[], p: NodeDirsInput): void {
  for (const n of nodes) {
    mkdirSync(n.dir, { recursive: true, mode: 0o700 });
    const userExtra = typeof p.opts.extraConfig === 'function' ? p.opts.extraConfig(n.name, n.index) : p.opts.extraConfig;
    const extra = p.net ? deepMerge(netnsConfig(n, p.net, p.credentials), userExtra ?? {}) : userExtra;
    const yaml = renderAgentConfig({
      name: n.name,
      scope: p.scope,
      namespace: p.namespace,
      etcdHosts: [...p.etcdHosts],
      apiPort: n.apiPort,
      pgPort: n.pgPort,
      dataDir: n.dataDir,
      pgBinDir: p.pgBinDir,
      credentials: p.credentials,
      logLevel: p.opts.agentLogLevel ?? 'debug',
      ...(p.opts.pgParameters ? { pgParameters: p.opts.pgParameters } : {}),
      tags: n.tags,
      ...(p.opts.dcs ? { dcs: p.opts.dcs } : {}),
      ...(extra ? { extra } : {}),
    });
    writeFileSync(n.configFile, yaml, { mode: 0o600 });
    if (p.runAs) {
      chownSync(n.dir, p.runAs.uid, p.runAs.gid);
      chownSync(n.configFile, p.runAs.uid, p.runAs.gid);
    }
  }
}

/** A node's listen/connect addresses and pg_hba inside its namespace. */
function netnsConfig(n: LocalNode, net: NetnsNetwork, c: LocalCredentials): Record<string, unknown> {
  return {
    restapi: { listen: `${n.apiHost}:${n.apiPort}`, connect_address: `${n.apiHost}:${n.apiPort}` },
    postgresql: {
      listen: n.pgHost,
      connect_address: `${n.pgHost}:${n.pgPort}`,
      pg_hba: [
        `host all all ${net.subnet} scram-sha-256`,
        `host replication ${c.replication.username} ${net.subnet} scram-sha-256`,
      ],
    },
  };
}

export interface SpawnAgentInput {
  readonly supervisor: ProcessSupervisor;
  /** dist/agent/cli.js */
  readonly cli: string;
  readonly runAs: RunAs | null;
  readonly net: NetnsNetwork | null;
}

/** `node cli.js agent -c pgwarden.yml`, inside the node's namespace when there is one. */
export function spawnAgent(n: LocalNode, p: SpawnAgentInput): TrackedProcess {
  if (p.net) return spawnAgentInNetns(n, p.net, p);
  return p.supervisor.spawn({
    name: `agent ${n.name}`,
    command: process.execPath,
    args: [p.cli, 'agent', '-c', n.configFile],
    logFile: n.logFile,
    cwd: n.dir,
    runAs: p.runAs,
    node: n.name,
  });
}

/** `ip netns exec <ns> setpriv --reuid … --pdeathsig KILL -- node cli.js agent` (ip execs in place: same pid). */
function spawnAgentInNetns(n: LocalNode, net: NetnsNetwork, p: SpawnAgentInput): TrackedProcess {
  const runAs = p.runAs;
  const setpriv = findSetpriv();
  const drop = runAs && setpriv
    ? [setpriv, '--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--init-groups', '--pdeathsig', 'KILL', '--']
    : [];
  if (runAs && !setpriv) throw new Error('LocalCluster netns: setpriv (util-linux) is needed to drop to the agents\' user inside a namespace');
  const [ip, ...prefix] = net.execPrefix(n.name);
  const proc = p.supervisor.spawn({
    name: `agent ${n.name}`,
    command: ip!,
    args: [...prefix, ...drop, process.execPath, p.cli, 'agent', '-c', n.configFile],
    logFile: n.logFile,
    cwd: n.dir,
    runAs: null,
    node: n.name,
    ...(runAs ? { env: { HOME: runAs.home, USER: runAs.user, LOGNAME: runAs.user } } : {}),
  });
  if (runAs) chownSync(n.logFile, runAs.uid, runAs.gid);
  return proc;
}
