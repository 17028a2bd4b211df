// LocalCluster: a whole pgwarden cluster on one machine, as real processes — a 3-member etcd, N
// agents (each managing its own PostgreSQL) and HAProxy in front. Used by `pgwarden demo`,
// `pgwarden chaos` and the integration and chaos tests.
//
// Run directory (default /tmp/pgwarden-runs/<run id>), kept after the run for post-mortems:
//   run.json     who owns the run (pid) and where things are        pids      every pid started
//   cluster.log  the harness's own events (JSON lines)                etcdN.log each etcd member
//   haproxy.cfg, haproxy.log, haproxy.pid
//   nodeN/pgwarden.yml, nodeN/agent.log (pino JSON), nodeN/data (PGDATA)
// etcd's data lives on tmpfs (/dev/shm/pgwarden-run-<id>) so PostgreSQL's disk I/O never delays
// etcd's fsync; it is removed when the run ends.
import { join } from 'node:path';
import { callAgentApi, agentStatus, type AgentCallOptions } from './agent-api.js';
import type { LocalCredentials } from './agent-config.js';
import { ClusterRun } from './cluster-run.js';
import {
  DEFAULT_BASE_DIR, LOCALHOST,
  type AgentStatus, type ApiResponse, type HaproxyPorts, type LocalClusterOptions, type LocalClusterState,
  type LocalClusterTimeouts, type LocalNode, type NodeRef, type UnexpectedExit,
} from './cluster-types.js';
import { clientUrl, runEtcdctl, type EtcdctlResult } from './etcd.js';
import { freeze, killNode, killPostgres, signalAgent, thaw } from './faults.js';
import { fetchHaproxyServers, type HaproxyServerState } from './haproxy.js';
import type { NetnsNetwork } from './netns.js';
import { findPostmaster } from './procfs.js';
import { reapStale, type ReapResult } from './reap.js';
import { findRepoDir, tail } from './run-dir.js';
import { resolveSettings, type ClusterSettings } from './settings.js';
import type { TrackedProcess } from './supervisor.js';
import { waitFor, type WaitOptions } from './wait.js';
import { statuses, waitForPrimary, waitUntilReady, type ClusterProbe } from './waiters.js';

export { DEFAULT_BASE_DIR, findRepoDir };
export type {
  AgentStatus, ApiResponse, HaproxyPorts, LocalClusterOptions, LocalClusterState, LocalClusterTimeouts, LocalNode, NodeRef, UnexpectedExit,
};

export class LocalCluster {
  readonly #s: ClusterSettings;
  readonly #run: ClusterRun;

  constructor(opts: LocalClusterOptions = {}) {
    this.#s = resolveSettings(opts);
    this.#run = new ClusterRun(this.#s);
  }

  get runId(): string {
    return this.#s.runId;
  }

  get runDir(): string {
    return this.#s.runDir;
  }

  get baseDir(): string {
    return this.#s.baseDir;
  }

  get scope(): string {
    return this.#s.scope;
  }

  get namespace(): string {
    return this.#s.namespace;
  }

  /** Generated for this run: the PostgreSQL superuser and replication user, the API's basic auth. */
  get credentials(): LocalCredentials {
    return this.#s.credentials;
  }

  get repoDir(): string {
    return this.#s.repoDir;
  }

  /** Exits nobody asked for (crashes, config errors), newest last. */
  get unexpectedExits(): UnexpectedExit[] {
    return this.#run.unexpectedExits;
  }

  // ---------------------------------------------------------------------------------------------
  // What tests read

  get state(): LocalClusterState {
    return this.#run.state;
  }

  get nodes(): readonly LocalNode[] {
    this.#requireStarted('nodes');
    return this.#run.nodes;
  }

  /** etcd client URLs (http://127.0.0.1:port). */
  get etcdEndpoints(): string[] {
    this.#requireStarted('etcdEndpoints');
    return this.#run.etcd.map(clientUrl);
  }

  /** etcd members as host:port (the form used in pgwarden.yml). */
  get etcdHosts(): string[] {
    this.#requireStarted('etcdHosts');
    return this.#run.etcd.map((m) => `${LOCALHOST}:${m.clientPort}`);
  }

  get haproxy(): HaproxyPorts {
    this.#requireStarted('haproxy');
    if (!this.#run.haproxyPorts) throw new Error('LocalCluster.haproxy: HAProxy is not running (haproxy: false, or start() has not got there)');
    return this.#run.haproxyPorts;
  }

  /** The namespaces and bridge of a `netns: true` cluster (partitions, latency); null otherwise. */
  get net(): NetnsNetwork | null {
    return this.#run.net;
  }

  node(ref: NodeRef): LocalNode {
    const name = typeof ref === 'string' ? ref : ref.name;
    const n = this.#run.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`LocalCluster: no node "${name}" (have ${this.#run.nodes.map((x) => x.name).join(', ') || 'none'})`);
    return n;
  }

  pgConnString(ref: NodeRef, opts: { database?: string } = {}): string {
    const n = this.node(ref);
    return this.#connString(n.pgHost, n.pgPort, opts.database);
  }

  /** Through HAProxy's read-write listener (the primary). */
  rwConnString(opts: { database?: string } = {}): string {
    return this.#connString(LOCALHOST, this.haproxy.rwPort, opts.database);
  }

  /** Through HAProxy's read-only listener (the replicas). */
  roConnString(opts: { database?: string } = {}): string {
    return this.#connString(LOCALHOST, this.haproxy.roPort, opts.database);
  }

  #connString(host: string, port: number, database = 'postgres'): string {
    const u = this.credentials.superuser;
    return `postgresql://${encodeURIComponent(u.username)}:${encodeURIComponent(u.password)}@${host}:${port}/${encodeURIComponent(database)}`;
  }

  agentPid(ref: NodeRef): number | null {
    const p = this.#run.agents.get(this.node(ref).name);
    return p && p.running ? p.pid : null;
  }

  agentRunning(ref: NodeRef): boolean {
    return this.agentPid(ref) !== null;
  }

  /** The node's live postmaster (from postmaster.pid, verified), or null. */
  postmasterPid(ref: NodeRef): number | null {
    return findPostmaster(this.node(ref).dataDir);
  }

  /** Last lines of a node's agent log (or of any file in the run dir, e.g. "etcd1.log"). */
  logTail(refOrFile: NodeRef, lines = 30): string {
    if (typeof refOrFile === 'string' && refOrFile.includes('.')) return tail(join(this.runDir, refOrFile), lines);
    return tail(this.node(refOrFile).logFile, lines);
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  start(): Promise<void> {
    return this.#run.start();
  }

  /**
   * Stop everything, in order: HAProxy; agents (SIGTERM, SIGKILL after a deadline); leftover
   * postmasters (SIGQUIT, then SIGKILL); etcd; then a sweep for anything of this run still alive.
   * Idempotent; safe after a failed or partial start. Keeps the run directory (see removeRunDir).
   */
  stop(): Promise<void> {
    return this.#run.stop();
  }

  /** Delete the run directory (logs and data). Only after stop(). */
  removeRunDir(): void {
    this.#run.removeRunDir();
  }

  /** Kill processes of crashed runs under `baseDir` (whose owner process is gone). */
  static reapStale(baseDir: string = DEFAULT_BASE_DIR): Promise<ReapResult[]> {
    return reapStale(baseDir);
  }

  // ---------------------------------------------------------------------------------------------
  // Faults and control

  /** Start (or restart) a node's agent. Rejects if it is already running. */
  startAgent(ref: NodeRef): LocalNode {
    this.#requireRunning('startAgent');
    const n = this.node(ref);
    if (this.agentRunning(n)) throw new Error(`LocalCluster: agent ${n.name} is already running (pid ${this.agentPid(n)})`);
    this.#run.spawnAgent(n);
    return n;
  }

  /** Stop an agent cleanly: SIGTERM, SIGKILL after `timeoutMs` (default agentStopMs). */
  async stopAgent(ref: NodeRef, timeoutMs = this.#s.timeouts.agentStopMs): Promise<void> {
    const p = this.#run.agents.get(this.node(ref).name);
    const sup = this.#run.supervisor;
    if (p && sup) await sup.terminate(p, { timeoutMs });
  }

  /**
   * Send `signal` to a node's agent process only (its PostgreSQL keeps running). For SIGKILL,
   * resolves once the process is gone.
   */
  killAgent(ref: NodeRef, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(ref);
    return signalAgent(n, this.#run.agents.get(n.name), signal, this.#run.log);
  }

  /**
   * SIGKILL a node's postmaster (found through postmaster.pid) and, unless `postmasterOnly`, its
   * children at the same instant. Resolves the postmaster's pid once they are gone.
   */
  killPostgres(ref: NodeRef, opts: { postmasterOnly?: boolean } = {}): Promise<number> {
    return killPostgres(this.node(ref), opts, this.#run.log);
  }

  /** A node "loses power": its agent, its PostgreSQL and anything they started, SIGKILLed at once. */
  killNode(ref: NodeRef): Promise<void> {
    const n = this.node(ref);
    return killNode(n, this.#run.requireSupervisor(), this.#run.agents.get(n.name), this.#run.log);
  }

  /**
   * Latency on every connection of a node, both directions (needs latencyRelay: true). Zero
   * removes it. Applies to bytes read from then on.
   */
  setLatency(ref: NodeRef, delayMs: number, jitterMs = 0): void {
    if (!this.#run.relays) throw new Error('LocalCluster.setLatency: start the cluster with netns: true and latencyRelay: true');
    const n = this.node(ref);
    this.#run.log.info({ node: n.name, delayMs, jitterMs }, 'setLatency');
    this.#run.relays.setDelay(n.name, { delayMs, jitterMs });
  }

  /** SIGSTOP every etcd member (or those listed, 0-based): the DCS hangs without closing sockets. */
  freezeEtcd(members?: readonly number[]): void {
    for (const p of this.#pickEtcd(members)) freeze(p, this.#run.log);
  }

  thawEtcd(members?: readonly number[]): void {
    for (const p of this.#pickEtcd(members)) thaw(p, this.#run.log);
  }

  /** SIGSTOP a node's agent (a hung agent; its PostgreSQL keeps running). */
  freezeAgent(ref: NodeRef): void {
    freeze(this.#runningAgent(ref), this.#run.log);
  }

  thawAgent(ref: NodeRef): void {
    thaw(this.#runningAgent(ref), this.#run.log);
  }

  // ---------------------------------------------------------------------------------------------
  // Talking to the pieces

  /** GET <apiUrl>/status (short timeout). Rejects when the agent does not answer in time. */
  apiStatus(ref: NodeRef, timeoutMs = 1000): Promise<AgentStatus> {
    return agentStatus(this.node(ref), timeoutMs, this.credentials.api);
  }

  /** Any REST call; mutating calls carry the generated basic-auth credentials unless auth: false. */
  api(ref: NodeRef, path: string, opts: AgentCallOptions = {}): Promise<ApiResponse> {
    return callAgentApi(this.node(ref), path, opts, this.credentials.api);
  }

  /** etcdctl (v3) against this cluster's members, with dial/command timeouts. Never rejects. */
  etcdctl(args: readonly string[], opts: { timeoutMs?: number; endpoints?: readonly string[] } = {}): Promise<EtcdctlResult> {
    return runEtcdctl(this.#s.bins.etcdctl, opts.endpoints ?? this.etcdEndpoints, args, opts.timeoutMs ?? 3000);
  }

  /** HAProxy's view of every server (from the stats CSV). */
  haproxyServers(timeoutMs = 1000): Promise<HaproxyServerState[]> {
    return fetchHaproxyServers(this.haproxy.statsPort, timeoutMs);
  }

  // ---------------------------------------------------------------------------------------------
  // Waiters (all with deadlines; they give up early when etcd or HAProxy died)

  waitFor<T>(probe: () => T | Promise<T>, opts: WaitOptions<T>): Promise<T> {
    const failIf = opts.failIf;
    return waitFor(probe, { ...opts, failIf: () => this.#run.fatal ?? failIf?.() });
  }

  /** Status of every node whose agent is running (nodes that do not answer are left out). */
  statuses(timeoutMs = 1000): Promise<Record<string, AgentStatus>> {
    return statuses(this.#probe(), timeoutMs);
  }

  /** Wait until exactly one running agent reports role primary with PostgreSQL running. */
  waitForPrimary(opts: { timeoutMs?: number; exclude?: readonly string[] } = {}): Promise<LocalNode> {
    return waitForPrimary(this.#probe(), opts);
  }

  /**
   * Wait until one node is a running primary, `replicas` others (default: every other running
   * agent) are running replicas, and HAProxy (when started) routes read-write traffic to the primary
   * only and read-only traffic to those replicas (except the ones tagged noloadbalance).
   */
  waitUntilReady(opts: { timeoutMs?: number; replicas?: number } = {}): Promise<{ primary: LocalNode; replicas: LocalNode[] }> {
    return waitUntilReady(this.#probe(), opts);
  }

  #probe(): ClusterProbe {
    return {
      allNodes: () => this.#run.nodes,
      node: (name) => this.node(name),
      agentRunning: (n) => this.agentRunning(n),
      runningAgents: () => [...this.#run.agents.values()].filter((p) => p.running).length,
      apiStatus: (n, timeoutMs) => this.apiStatus(n, timeoutMs),
      haproxy: () => (this.#run.haproxyPorts ? { servers: () => this.haproxyServers(), proxyScope: this.#proxyScope() } : null),
      waitFor: (probe, opts) => this.waitFor(probe, opts),
      agentsAllDead: () => this.#agentsAllDead(),
      agentExitedEarly: () => this.#agentExitedEarly(),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  #proxyScope(): string {
    return this.scope.replace(/[^A-Za-z0-9_.:-]/g, '_');
  }

  #agentsAllDead(): string | null {
    if (this.#run.agents.size === 0) return 'no agents';
    if ([...this.#run.agents.values()].some((p) => p.running)) return null;
    return `no agent is running:\n${[...this.#run.agents.entries()].map(([k, p]) => `${k}: ${p.describeExit()}\n${tail(this.node(k).logFile, 5)}`).join('\n')}`;
  }

  /** An agent that died unexpectedly within its first 10 s (config error, crash on start). */
  #agentExitedEarly(): string | null {
    for (const [name, p] of this.#run.agents) {
      if (!p.expectedExit && p.exitInfo && p.exitInfo.at - p.startedAt < 10_000) {
        return `agent ${name} ${p.describeExit()} right after start; ${this.node(name).logFile}:\n${tail(this.node(name).logFile, 10)}`;
      }
    }
    return null;
  }

  #pickEtcd(members?: readonly number[]): readonly TrackedProcess[] {
    this.#requireStarted('etcd');
    if (!members) return this.#run.etcdProcs;
    return members.map((i) => {
      const p = this.#run.etcdProcs[i];
      if (!p) throw new Error(`LocalCluster: no etcd member ${i} (0..${this.#run.etcdProcs.length - 1})`);
      return p;
    });
  }

  #runningAgent(ref: NodeRef): TrackedProcess {
    const n = this.node(ref);
    const p = this.#run.agents.get(n.name);
    if (!p || !p.running) throw new Error(`LocalCluster: agent ${n.name} is not running`);
    return p;
  }

  #requireStarted(what: string): void {
    if (this.#run.state === 'new' || (this.#run.state === 'starting' && this.#run.etcd.length === 0)) {
      throw new Error(`LocalCluster.${what}: call start() first`);
    }
  }

  #requireRunning(what: string): void {
    if (this.#run.state !== 'running') throw new Error(`LocalCluster.${what}: the cluster is ${this.#run.state}`);
  }

}
