// Process-level faults a LocalCluster injects: kill or signal an agent, kill a node's PostgreSQL
// or the whole node, freeze and thaw a process; and the orderly teardown of a run's processes.
import type { LocalClusterTimeouts, LocalNode } from './cluster-types.js';
import { findPostmaster, signalQuietly, stopAndConfirm, withDescendants } from './procfs.js';
import { waitGone, type EventLog, type ProcessSupervisor, type TrackedProcess } from './supervisor.js';
import { deadline } from './wait.js';

const TERMINATING: ReadonlySet<string> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGABRT']);

/** Signal an agent process only (its PostgreSQL keeps running); for SIGKILL, wait until it is gone. */
export async function signalAgent(n: LocalNode, p: TrackedProcess | undefined, signal: NodeJS.Signals, log: EventLog): Promise<void> {
  if (!p || !p.running) throw new Error(`LocalCluster: agent ${n.name} is not running`);
  if (TERMINATING.has(signal)) p.expectedExit = true;
  log.info({ node: n.name, pid: p.pid, signal }, 'killAgent');
  if (!signalQuietly(p.pid, signal)) throw new Error(`LocalCluster: could not signal agent ${n.name} (pid ${p.pid})`);
  if (signal === 'SIGKILL') await deadline(p.exited, 5000, `agent ${n.name} (pid ${p.pid}) to exit after SIGKILL`);
}

/** SIGKILL a node's postmaster (and, unless `postmasterOnly`, its children); resolves its pid once they are gone. */
export async function killPostgres(n: LocalNode, opts: { postmasterOnly?: boolean }, log: EventLog): Promise<number> {
  const pm = findPostmaster(n.dataDir);
  if (pm === null) throw new Error(`LocalCluster: no running postmaster for ${n.name} (${n.dataDir}/postmaster.pid)`);
  const pids = opts.postmasterOnly ? [pm] : [...withDescendants([pm])];
  log.info({ node: n.name, postmaster: pm, pids }, 'killPostgres');
  for (const pid of pids) signalQuietly(pid, 'SIGKILL');
  await waitGoneOrThrow(pids, 5000, `PostgreSQL of ${n.name}`);
  return pm;
}

/** A node "loses power": its agent, its PostgreSQL and anything they started, SIGKILLed at once. */
export async function killNode(n: LocalNode, sup: ProcessSupervisor, agent: TrackedProcess | undefined, log: EventLog): Promise<void> {
  if (agent) agent.expectedExit = true;
  const pids = new Set(sup.runProcesses({ node: n.name }));
  const pm = findPostmaster(n.dataDir);
  if (pm !== null) for (const pid of withDescendants([pm])) pids.add(pid);
  log.info({ node: n.name, pids: [...pids] }, 'killNode');
  for (const pid of pids) signalQuietly(pid, 'SIGKILL');
  await waitGoneOrThrow(pids, 5000, `processes of ${n.name}`);
}

export function freeze(p: TrackedProcess, log: EventLog): void {
  log.info({ proc: p.name, pid: p.pid, confirmed: stopAndConfirm(p.pid) }, 'freeze');
}

export function thaw(p: TrackedProcess, log: EventLog): void {
  log.info({ proc: p.name, pid: p.pid }, 'thaw');
  signalQuietly(p.pid, 'SIGCONT');
}

async function waitGoneOrThrow(pids: Iterable<number>, ms: number, what: string): Promise<void> {
  const stuck = await waitGone(pids, ms, { reapedWithinMs: 3000 });
  if (stuck.length > 0) throw new Error(`LocalCluster: ${what} still alive ${ms} ms after SIGKILL: ${stuck.join(', ')}`);
}

export interface RunProcesses {
  readonly haproxy: TrackedProcess | null;
  readonly agents: readonly TrackedProcess[];
  readonly etcd: readonly TrackedProcess[];
  readonly nodes: readonly LocalNode[];
}

/**
 * Stop a run's processes, in order: HAProxy; agents (SIGTERM, SIGKILL after a deadline); leftover
 * postmasters (SIGQUIT, then SIGKILL); etcd; then a sweep for anything of the run still alive.
 */
export async function stopProcesses(sup: ProcessSupervisor, procs: RunProcesses, t: LocalClusterTimeouts, log: EventLog): Promise<void> {
  // Frozen processes cannot act on SIGTERM; agents need a live etcd to hand over cleanly.
  for (const p of sup.processes) if (p.running) signalQuietly(p.pid, 'SIGCONT');
  if (procs.haproxy) await sup.terminate(procs.haproxy, { timeoutMs: t.serviceStopMs });
  await Promise.all(procs.agents.map((p) => sup.terminate(p, { timeoutMs: t.agentStopMs })));
  await stopPostmasters(procs.nodes, t.postgresStopMs, log);
  // etcd last, and bluntly: its data is thrown away, and a SIGTERMed leader spends up to 5 s
  // trying to hand leadership to members that are shutting down too.
  await Promise.all(procs.etcd.map((p) => sup.terminate(p, { signal: 'SIGKILL', timeoutMs: t.serviceStopMs })));
  const left = sup.killAllSync();
  if (left.length > 0) {
    log.warn({ pids: left }, 'killed leftover processes');
    const stuck = await waitGone(left, 5000);
    if (stuck.length > 0) log.error({ pids: stuck }, 'processes survived SIGKILL');
  }
}

async function stopPostmasters(nodes: readonly LocalNode[], timeoutMs: number, log: EventLog): Promise<void> {
  const pms: number[] = [];
  for (const n of nodes) {
    const pm = findPostmaster(n.dataDir);
    if (pm === null) continue;
    log.warn({ node: n.name, pid: pm }, 'postmaster outlived its agent: SIGQUIT');
    signalQuietly(pm, 'SIGCONT');
    signalQuietly(pm, 'SIGQUIT');
    pms.push(pm);
  }
  if (pms.length === 0) return;
  const stuck = await waitGone(pms, timeoutMs);
  if (stuck.length > 0) {
    log.warn({ pids: stuck }, 'postmaster ignored SIGQUIT: SIGKILL');
    for (const pid of withDescendants(stuck)) signalQuietly(pid, 'SIGKILL');
    await waitGone(stuck, 5000);
  }
}
