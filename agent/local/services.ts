// Starting a LocalCluster's shared services: the etcd members (retried on a port clash) and
// HAProxy in front of the nodes, each waited for until it answers.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { renderHaproxyConfig } from '../../proxy-config/render.js';
import { checkHaproxyConfig, writeHaproxyConfig } from '../../proxy-config/write.js';
import { LOCALHOST, type HaproxyPorts, type LocalNode } from './cluster-types.js';
import { clientUrl, etcdArgs, etcdMemberHealth, type EtcdMember, type EtcdTiming } from './etcd.js';
import { fetchHaproxyServers, haproxyArgs } from './haproxy.js';
import type { NetnsNetwork } from './netns.js';
import { allocatePorts } from './ports.js';
import { tail } from './run-dir.js';
import type { EventLog, ProcessSupervisor, TrackedProcess } from './supervisor.js';
import { waitFor } from './wait.js';

export interface EtcdStart {
  readonly supervisor: ProcessSupervisor;
  readonly count: number;
  readonly etcdBin: string;
  readonly runId: string;
  readonly runDir: string;
  /** Where the members' data dirs go (tmpfs when there is room). */
  readonly dataRoot: string;
  readonly net: NetnsNetwork | null;
  readonly timing: EtcdTiming;
  readonly readyMs: number;
  readonly log: EventLog;
  /** Why to give up at once (the cluster is being stopped), or null. */
  readonly stopping: () => string | null;
  /** Told the members before they are spawned, and their processes once spawned (each attempt). */
  readonly onMembers: (members: EtcdMember[]) => void;
  readonly onSpawned: (procs: TrackedProcess[]) => void;
}

/** Spawn the members and wait until every one is healthy; on a port clash, retry with other ports. */
export async function startEtcd(p: EtcdStart): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const ports = await allocatePorts(p.count * 2);
    const members: EtcdMember[] = Array.from({ length: p.count }, (_, i) => ({
      name: `etcd${i + 1}`,
      clientPort: ports[2 * i]!,
      peerPort: ports[2 * i + 1]!,
      dataDir: join(p.dataRoot, `etcd-${i + 1}`),
      logFile: join(p.runDir, `etcd${i + 1}.log`),
    }));
    p.onMembers(members);
    const token = `pgwarden-${p.runId}-${attempt}`;
    const procs = members.map((m) => {
      rmSync(m.dataDir, { recursive: true, force: true });
      let args = etcdArgs(m, members, token, p.timing);
      if (p.net) {
        const extraUrl = `http://${p.net.etcdAddress}:${m.clientPort}`;
        args = args.map((a, k) => (k > 0 && (args[k - 1] === '--listen-client-urls' || args[k - 1] === '--advertise-client-urls') ? `${a},${extraUrl}` : a));
      }
      return p.supervisor.spawn({ name: m.name, command: p.etcdBin, args, logFile: m.logFile });
    });
    p.onSpawned(procs);
    try {
      await waitFor(() => Promise.all(members.map((m) => etcdMemberHealth(clientUrl(m), 1000))), {
        timeoutMs: p.readyMs,
        intervalMs: 100,
        what: `etcd cluster of ${p.count} to be healthy`,
        until: (r) => r.every((x) => x === true),
        failIf: () => p.stopping() ?? etcdDied(procs),
      });
      p.log.info({ endpoints: members.map(clientUrl) }, 'etcd healthy');
      return;
    } catch (err) {
      const clash = members.some((m) => tail(m.logFile, 50).includes('address already in use'));
      await Promise.all(procs.map((x) => p.supervisor.terminate(x, { signal: 'SIGKILL', timeoutMs: 2000 })));
      if (clash && attempt < 3 && !p.stopping()) {
        p.log.warn({ attempt }, 'etcd port clash: retrying with other ports');
        continue;
      }
      const logs = members.map((m) => `--- ${m.logFile}\n${tail(m.logFile, 8)}`).join('\n');
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
  }
}

function etcdDied(procs: readonly TrackedProcess[]): string | null {
  const dead = procs.find((x) => !x.running);
  return dead ? `${dead.name} ${dead.describeExit()}` : null;
}

export interface HaproxyStart {
  readonly supervisor: ProcessSupervisor;
  readonly haproxyBin: string;
  readonly runDir: string;
  readonly scope: string;
  readonly nodes: readonly LocalNode[];
  readonly replicaLag: string | undefined;
  readonly net: NetnsNetwork | null;
  readonly readyMs: number;
  readonly log: EventLog;
  readonly stopping: () => string | null;
  /** Told the ports once the config is checked, and the process once spawned. */
  readonly onPorts: (ports: HaproxyPorts) => void;
  readonly onSpawned: (proc: TrackedProcess) => void;
}

/** Render and check haproxy.cfg for the nodes, start HAProxy and wait for its stats page. */
export async function startHaproxy(p: HaproxyStart): Promise<void> {
  const [rwPort, roPort, statsPort] = (await allocatePorts(3)) as [number, number, number];
  const cfgFile = join(p.runDir, 'haproxy.cfg');
  let text = renderHaproxyConfig({
    scope: p.scope,
    members: p.nodes.map((n) => ({ name: n.name, host: n.pgHost, port: n.pgPort, apiHost: n.apiHost, apiPort: n.apiPort })),
    listen: { rw: `${LOCALHOST}:${rwPort}`, ro: `${LOCALHOST}:${roPort}`, stats: `${LOCALHOST}:${statsPort}` },
    ...(p.replicaLag !== undefined ? { replicaLag: p.replicaLag } : {}),
  });
  // netns: health checks and forwarded connections leave from HAProxy's own bridge address, so
  // a node can drop HAProxy's packets without dropping the harness's.
  if (p.net) text = text.replace(/^defaults$/m, `defaults\n    source ${p.net.haproxyAddress}`);
  await writeHaproxyConfig(cfgFile, text);
  const check = await checkHaproxyConfig(cfgFile, { haproxyBin: p.haproxyBin });
  if (!check.ok) throw new Error(`HAProxy rejects ${cfgFile}:\n${check.output}`);
  p.onPorts({ rwPort, roPort, statsPort });
  const proc = p.supervisor.spawn({
    name: 'haproxy',
    command: p.haproxyBin,
    args: haproxyArgs(cfgFile, join(p.runDir, 'haproxy.pid')),
    logFile: join(p.runDir, 'haproxy.log'),
  });
  p.onSpawned(proc);
  await waitFor(() => fetchHaproxyServers(statsPort, 500), {
    timeoutMs: p.readyMs,
    what: `HAProxy stats on 127.0.0.1:${statsPort}`,
    failIf: () => p.stopping() ?? (proc.running ? null : `haproxy ${proc.describeExit()}: ${tail(proc.spec.logFile, 8)}`),
    until: () => true,
  });
  p.log.info({ rwPort, roPort, statsPort }, 'haproxy up');
}
