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
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { pino } from 'pino';
import { callAgentApi, agentStatus, type AgentCallOptions } from './agent-api.js';
import type { LocalCredentials } from './agent-config.js';
import {
  DEFAULT_BASE_DIR, DEFAULT_TIMEOUTS, LOCALHOST,
  type AgentStatus, type ApiResponse, type HaproxyPorts, type LocalClusterOptions, type LocalClusterState,
  type LocalClusterTimeouts, type LocalNode, type NodeRef, type UnexpectedExit,
} from './cluster-types.js';
import { clientUrl, LOCAL_ETCD_TIMING, runEtcdctl, type EtcdctlResult, type EtcdMember } from './etcd.js';
import { fetchHaproxyServers, type HaproxyServerState } from './haproxy.js';
import { NetnsNetwork } from './netns.js';
import { LatencyRelays } from './latency-relays.js';
import { describeNode, prepareNodeDirs, spawnAgent } from './nodes.js';
import { allocatePorts } from './ports.js';
import { preflight } from './preflight.js';
import { findPostmaster, readStat } from './procfs.js';
import { freeze, killNode, killPostgres, signalAgent, stopProcesses, thaw } from './faults.js';
import { OWNER_FILE, reapStale, type ReapResult } from './reap.js';
import { chooseShmDir, eventLog, findRepoDir, newRunId, openClusterLog, secret, tail, updateRunFile } from './run-dir.js';
import { startEtcd, startHaproxy } from './services.js';
import {
  findSetpriv, ProcessSupervisor, registerEmergency, type EventLog, type RunAs, type TrackedProcess,
} from './supervisor.js';
import { waitFor, type WaitOptions } from './wait.js';
import { statuses, waitForPrimary, waitUntilReady, type ClusterProbe } from './waiters.js';

export { DEFAULT_BASE_DIR, findRepoDir };
export type {
  AgentStatus, ApiResponse, HaproxyPorts, LocalClusterOptions, LocalClusterState, LocalClusterTimeouts, LocalNode, NodeRef, UnexpectedExit,
};

export class LocalCluster {
  readonly runId: string;
  readonly runDir: string;
  readonly baseDir: string;
  readonly scope: string;
  readonly namespace: string;
  readonly credentials: LocalCredentials;
  readonly repoDir: string;
  /** Exits nobody asked for (crashes, config errors), newest last. */
  readonly unexpectedExits: UnexpectedExit[] = [];

  readonly #opts: LocalClusterOptions;
  readonly #timeouts: LocalClusterTimeouts;
  readonly #agentCount: number;
  readonly #etcdCount: number;
  #log: EventLog;
  #fileLog: ReturnType<typeof pino.destination> | null = null;
  readonly #pgBinDir: string;
  readonly #bins: { etcd: string; etcdctl: string; haproxy: string };
  readonly #cli: string;
  #state: LocalClusterState = 'new';
  #startPromise: Promise<void> | null = null;
  /** The start sequence itself (stop() waits for it to unwind; it must not wait for #startPromise,
   *  whose failure handler itself calls stop()). */
  #startRaw: Promise<void> | null = null;
  #stopPromise: Promise<void> | null = null;
  #runAs: RunAs | null = null;
  #shmDir: string | null = null;
  #supervisor: ProcessSupervisor | null = null;
  #unregisterEmergency: (() => void) | null = null;
  #etcd: EtcdMember[] = [];
  #etcdProcs: TrackedProcess[] = [];
  #nodes: LocalNode[] = [];
  #agents = new Map<string, TrackedProcess>();
  #haproxyPorts: HaproxyPorts | null = null;
  #haproxyProc: TrackedProcess | null = null;
  #fatal: string | null = null;
  #net: NetnsNetwork | null = null;
  #relays: LatencyRelays | null = null;

  constructor(opts: LocalClusterOptions = {}) {
    this.#opts = opts;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.#agentCount = opts.agents ?? 3;
    this.#etcdCount = opts.etcdMembers ?? 3;
    if (!Number.isInteger(this.#agentCount) || this.#agentCount < 0) throw new Error('LocalCluster: agents must be an integer ≥ 0');
    if (!Number.isInteger(this.#etcdCount) || this.#etcdCount < 1) throw new Error('LocalCluster: etcdMembers must be an integer ≥ 1');
    this.runId = opts.runId ?? newRunId();
    if (!/^[A-Za-z0-9._-]+$/.test(this.runId)) throw new Error(`LocalCluster: runId "${this.runId}" must match [A-Za-z0-9._-]+`);
    this.baseDir = resolve(opts.baseDir ?? DEFAULT_BASE_DIR);
    this.runDir = join(this.baseDir, this.runId);
    this.scope = opts.scope ?? 'local';
    this.namespace = opts.namespace ?? '/pgwarden';
    this.repoDir = opts.repoDir ? resolve(opts.repoDir) : findRepoDir();
    this.#cli = join(this.repoDir, 'dist', 'agent', 'cli.js');
    this.#pgBinDir = opts.pgBinDir ?? '/usr/lib/postgresql/15/bin';
    this.#bins = {
      etcd: opts.etcdBin ?? '/usr/bin/etcd',
      etcdctl: opts.etcdctlBin ?? '/usr/bin/etcdctl',
      haproxy: opts.haproxyBin ?? '/usr/sbin/haproxy',
    };
    this.credentials = {
      superuser: { username: 'postgres', password: secret() },
      replication: { username: 'replicator', password: secret() },
      api: { username: 'pgwarden', password: secret() },
    };
    this.#log = this.#makeLog(null);
  }

  /** Events go to <run>/cluster.log (from start() on) and to the caller's logger, if any. */
  #makeLog(file: ReturnType<typeof openClusterLog>['logger'] | null): EventLog {
    return eventLog(file, this.#opts.logger?.child({ component: 'local-cluster', run: this.runId }));
  }

  #openRunDir(): void {
    mkdirSync(this.runDir, { recursive: true, mode: 0o755 });
    const { destination, logger } = openClusterLog(this.runDir, this.runId);
    this.#fileLog = destination;
    this.#log = this.#makeLog(logger);
  }

  // ---------------------------------------------------------------------------------------------
  // What tests read

  get state(): LocalClusterState {
    return this.#state;
  }

  get nodes(): readonly LocalNode[] {
    this.#requireStarted('nodes');
    return this.#nodes;
  }

  /** etcd client URLs (http://127.0.0.1:port). */
  get etcdEndpoints(): string[] {
    this.#requireStarted('etcdEndpoints');
    return this.#etcd.map(clientUrl);
  }

  /** etcd members as host:port (the form used in pgwarden.yml). */
  get etcdHosts(): string[] {
    this.#requireStarted('etcdHosts');
    return this.#etcd.map((m) => `${LOCALHOST}:${m.clientPort}`);
  }

  get haproxy(): HaproxyPorts {
    this.#requireStarted('haproxy');
    if (!this.#haproxyPorts) throw new Error('LocalCluster.haproxy: HAProxy is not running (haproxy: false, or start() has not got there)');
    return this.#haproxyPorts;
  }

  /** The namespaces and bridge of a `netns: true` cluster (partitions, latency); null otherwise. */
  get net(): NetnsNetwork | null {
    return this.#net;
  }

  node(ref: NodeRef): LocalNode {
    const name = typeof ref === 'string' ? ref : ref.name;
    const n = this.#nodes.find((x) => x.name === name);
    if (!n) throw new Error(`LocalCluster: no node "${name}" (have ${this.#nodes.map((x) => x.name).join(', ') || 'none'})`);
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
    const p = this.#agents.get(this.node(ref).name);
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
    if (this.#startPromise) return this.#startPromise;
    if (this.#state !== 'new') return Promise.reject(new Error(`LocalCluster: cannot start from state ${this.#state}`));
    this.#state = 'starting';
    this.#startRaw = this.#start();
    this.#startPromise = this.#startRaw.catch(async (err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      this.#log.error({ err: msg }, 'start failed');
      if (this.#state === 'starting') await this.stop().catch(() => undefined);
      const e = new Error(`LocalCluster start failed: ${msg}\n  run dir (logs): ${this.runDir}`);
      (e as Error & { cause?: unknown }).cause = err;
      throw e;
    });
    return this.#startPromise;
  }

  async #start(): Promise<void> {
    const t0 = Date.now();
    this.#openRunDir();
    this.#runAs = preflight({
      bins: this.#bins, haproxy: this.#opts.haproxy !== false, agentCount: this.#agentCount, pgBinDir: this.#pgBinDir,
      cli: this.#cli, repoDir: this.repoDir, runDir: this.runDir, runAsUser: this.#opts.runAsUser ?? 'postgres', log: this.#log,
    });
    if (this.#opts.reapStale !== false) {
      const reaped = await reapStale(this.baseDir);
      for (const r of reaped) this.#log.warn({ ...r }, 'reaped a crashed run');
    }
    const self = readStat(process.pid);
    this.#shmDir = this.#opts.etcdOnTmpfs === false ? null : chooseShmDir(this.runId, this.#etcdCount);
    this.#writeRunFile({ ownerPid: process.pid, ownerStartTime: self?.startTime ?? null });
    if (this.#opts.netns) {
      this.#net = NetnsNetwork.create(Array.from({ length: this.#agentCount }, (_, i) => `node${i + 1}`));
      this.#writeRunFile({ netns: { tag: this.#net.tag, subnet: this.#net.subnet, bridge: this.#net.bridge, namespaces: this.#net.nodes.map((n) => n.ns) } });
      this.#log.info({ tag: this.#net.tag, subnet: this.#net.subnet }, 'network namespaces created');
    }
    if (this.#shmDir) {
      mkdirSync(this.#shmDir, { recursive: true, mode: 0o700 });
      writeFileSync(join(this.#shmDir, OWNER_FILE), JSON.stringify({ runDir: this.runDir, ownerPid: process.pid, ownerStartTime: self?.startTime ?? null }));
    }
    this.#supervisor = new ProcessSupervisor({
      runDir: this.runDir,
      runId: this.runId,
      // Delegate, so the supervisor follows #log when the run dir's file is closed.
      log: {
        debug: (o, m) => this.#log.debug(o, m),
        info: (o, m) => this.#log.info(o, m),
        warn: (o, m) => this.#log.warn(o, m),
        error: (o, m) => this.#log.error(o, m),
      },
      dataDirs: () => this.#nodes.map((n) => n.dataDir),
      onUnexpectedExit: (p) => this.#onUnexpectedExit(p),
    });
    this.#unregisterEmergency = registerEmergency(
      { emergencyStop: () => this.#emergencyStop() },
      { signals: this.#opts.signalHandlers !== false },
    );

    await this.#startEtcd();
    this.#checkStopping();

    if (this.#agentCount > 0) {
      const ports = await allocatePorts(this.#agentCount * 2);
      this.#nodes = Array.from({ length: this.#agentCount }, (_, i) => describeNode(this.runDir, this.#net, this.#opts, i, ports[2 * i]!, ports[2 * i + 1]!));
      prepareNodeDirs(this.#nodes, {
        opts: this.#opts, scope: this.scope, namespace: this.namespace, pgBinDir: this.#pgBinDir, credentials: this.credentials,
        etcdHosts: this.#etcd.map((m) => `${this.#net ? this.#net.etcdAddress : LOCALHOST}:${m.clientPort}`),
        net: this.#net, runAs: this.#runAs,
      });
      this.#writeRunFile({});
      if (this.#net && this.#opts.latencyRelay) await this.#startRelays(this.#net);
      for (const n of this.#nodes) this.#spawnAgent(n);
    }
    this.#checkStopping();

    if (this.#opts.haproxy !== false) await this.#startHaproxy();
    this.#checkStopping();
    this.#state = 'running';
    this.#writeRunFile({});
    this.#log.info({ ms: Date.now() - t0, runDir: this.runDir }, 'local cluster started');
  }

  /**
   * Stop everything, in order: HAProxy; agents (SIGTERM, SIGKILL after a deadline); leftover
   * postmasters (SIGQUIT, then SIGKILL); etcd; then a sweep for anything of this run still alive.
   * Idempotent; safe after a failed or partial start. Keeps the run directory (see removeRunDir).
   */
  stop(): Promise<void> {
    if (this.#stopPromise) return this.#stopPromise;
    if (this.#state === 'new') {
      this.#state = 'stopped';
      this.#stopPromise = Promise.resolve();
      return this.#stopPromise;
    }
    this.#state = 'stopping';
    this.#stopPromise = this.#stop();
    return this.#stopPromise;
  }

  async #stop(): Promise<void> {
    const t0 = Date.now();
    // A start still in progress notices `stopping` at its next step; let it unwind first.
    await this.#startRaw?.catch(() => undefined);
    const sup = this.#supervisor;
    if (sup) {
      await stopProcesses(sup, {
        haproxy: this.#haproxyProc, agents: [...this.#agents.values()], etcd: this.#etcdProcs, nodes: this.#nodes,
      }, this.#timeouts, this.#log);
    }
    this.#removeShmDir();
    this.#destroyNet();
    this.#unregisterEmergency?.();
    this.#unregisterEmergency = null;
    this.#state = 'stopped';
    this.#writeRunFile({ stoppedAt: new Date().toISOString() });
    this.#log.info({ ms: Date.now() - t0 }, 'local cluster stopped');
  }

  /** Delete the run directory (logs and data). Only after stop(). */
  removeRunDir(): void {
    if (this.#state !== 'stopped') throw new Error('LocalCluster: removeRunDir() needs stop() first');
    this.#fileLog?.end();
    this.#fileLog = null;
    this.#log = this.#makeLog(null);
    rmSync(this.runDir, { recursive: true, force: true });
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
    this.#spawnAgent(n);
    return n;
  }

  /** Stop an agent cleanly: SIGTERM, SIGKILL after `timeoutMs` (default agentStopMs). */
  async stopAgent(ref: NodeRef, timeoutMs = this.#timeouts.agentStopMs): Promise<void> {
    const p = this.#agents.get(this.node(ref).name);
    if (p && this.#supervisor) await this.#supervisor.terminate(p, { timeoutMs });
  }

  /**
   * Send `signal` to a node's agent process only (its PostgreSQL keeps running). For SIGKILL,
   * resolves once the process is gone.
   */
  killAgent(ref: NodeRef, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(ref);
    return signalAgent(n, this.#agents.get(n.name), signal, this.#log);
  }

  /**
   * SIGKILL a node's postmaster (found through postmaster.pid) and, unless `postmasterOnly`, its
   * children at the same instant. Resolves the postmaster's pid once they are gone.
   */
  killPostgres(ref: NodeRef, opts: { postmasterOnly?: boolean } = {}): Promise<number> {
    return killPostgres(this.node(ref), opts, this.#log);
  }

  /** A node "loses power": its agent, its PostgreSQL and anything they started, SIGKILLed at once. */
  killNode(ref: NodeRef): Promise<void> {
    const n = this.node(ref);
    return killNode(n, this.#requireSupervisor(), this.#agents.get(n.name), this.#log);
  }

  /**
   * Latency on every connection of a node, both directions (needs latencyRelay: true). Zero
   * removes it. Applies to bytes read from then on.
   */
  setLatency(ref: NodeRef, delayMs: number, jitterMs = 0): void {
    if (!this.#relays) throw new Error('LocalCluster.setLatency: start the cluster with netns: true and latencyRelay: true');
    const n = this.node(ref);
    this.#log.info({ node: n.name, delayMs, jitterMs }, 'setLatency');
    this.#relays.setDelay(n.name, { delayMs, jitterMs });
  }

  /** SIGSTOP every etcd member (or those listed, 0-based): the DCS hangs without closing sockets. */
  freezeEtcd(members?: readonly number[]): void {
    for (const p of this.#pickEtcd(members)) freeze(p, this.#log);
  }

  thawEtcd(members?: readonly number[]): void {
    for (const p of this.#pickEtcd(members)) thaw(p, this.#log);
  }

  /** SIGSTOP a node's agent (a hung agent; its PostgreSQL keeps running). */
  freezeAgent(ref: NodeRef): void {
    freeze(this.#runningAgent(ref), this.#log);
  }

  thawAgent(ref: NodeRef): void {
    thaw(this.#runningAgent(ref), this.#log);
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
    return runEtcdctl(this.#bins.etcdctl, opts.endpoints ?? this.etcdEndpoints, args, opts.timeoutMs ?? 3000);
  }

  /** HAProxy's view of every server (from the stats CSV). */
  haproxyServers(timeoutMs = 1000): Promise<HaproxyServerState[]> {
    return fetchHaproxyServers(this.haproxy.statsPort, timeoutMs);
  }

  // ---------------------------------------------------------------------------------------------
  // Waiters (all with deadlines; they give up early when etcd or HAProxy died)

  waitFor<T>(probe: () => T | Promise<T>, opts: WaitOptions<T>): Promise<T> {
    const failIf = opts.failIf;
    return waitFor(probe, { ...opts, failIf: () => this.#fatal ?? failIf?.() });
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
      allNodes: this.#nodes,
      node: (name) => this.node(name),
      agentRunning: (n) => this.agentRunning(n),
      runningAgents: () => [...this.#agents.values()].filter((p) => p.running).length,
      apiStatus: (n, timeoutMs) => this.apiStatus(n, timeoutMs),
      haproxy: this.#haproxyPorts ? { servers: () => this.haproxyServers(), proxyScope: this.#proxyScope() } : null,
      waitFor: (probe, opts) => this.waitFor(probe, opts),
      agentsAllDead: () => this.#agentsAllDead(),
      agentExitedEarly: () => this.#agentExitedEarly(),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  async #startEtcd(): Promise<void> {
    await startEtcd({
      supervisor: this.#requireSupervisor(),
      count: this.#etcdCount,
      etcdBin: this.#bins.etcd,
      runId: this.runId,
      runDir: this.runDir,
      dataRoot: this.#shmDir ?? this.runDir,
      net: this.#net,
      timing: this.#opts.etcdTiming ?? LOCAL_ETCD_TIMING,
      readyMs: this.#timeouts.etcdReadyMs,
      log: this.#log,
      stopping: () => this.#stoppingReason(),
      onMembers: (members: EtcdMember[]) => {
        this.#etcd = members;
        this.#writeRunFile({});
      },
      onSpawned: (procs) => { this.#etcdProcs = procs; },
    });
  }

  async #startRelays(net: NetnsNetwork): Promise<void> {
    this.#relays = await LatencyRelays.start({
      net,
      supervisor: this.#requireSupervisor(),
      nodes: this.#nodes,
      etcd: this.#etcd.map((m, i) => ({ label: `etcd${i + 1}`, host: net.etcdAddress, port: m.clientPort })),
      relayMain: join(dirname(this.#cli), 'local', 'delay-relay-main.js'),
      setpriv: findSetpriv(),
    });
    this.#log.info({ nodes: this.#nodes.map((n) => n.name) }, 'latency relays up');
  }

  #spawnAgent(n: LocalNode): TrackedProcess {
    const p = spawnAgent(n, { supervisor: this.#requireSupervisor(), cli: this.#cli, runAs: this.#runAs, net: this.#net });
    this.#agents.set(n.name, p);
    return p;
  }

  async #startHaproxy(): Promise<void> {
    await startHaproxy({
      supervisor: this.#requireSupervisor(),
      haproxyBin: this.#bins.haproxy,
      runDir: this.runDir,
      scope: this.scope,
      nodes: this.#nodes,
      replicaLag: this.#opts.replicaLag,
      net: this.#net,
      readyMs: this.#timeouts.haproxyReadyMs,
      log: this.#log,
      stopping: () => this.#stoppingReason(),
      onPorts: (ports) => {
        this.#haproxyPorts = ports;
        this.#writeRunFile({});
      },
      onSpawned: (proc) => { this.#haproxyProc = proc; },
    });
  }

  #proxyScope(): string {
    return this.scope.replace(/[^A-Za-z0-9_.:-]/g, '_');
  }

  #emergencyStop(): void {
    try {
      const killed = this.#supervisor?.killAllSync() ?? [];
      this.#log.warn({ pids: killed }, 'emergency stop: killed every process of the run');
    } finally {
      this.#removeShmDir();
      this.#destroyNet();
      this.#state = 'stopped';
    }
  }

  #destroyNet(): void {
    if (!this.#net) return;
    const left = this.#net.destroy();
    if (left.length > 0) this.#log.error({ left }, 'could not remove network namespaces/links');
    else this.#log.info({ tag: this.#net.tag }, 'network namespaces removed');
  }

  #removeShmDir(): void {
    if (this.#shmDir) rmSync(this.#shmDir, { recursive: true, force: true });
  }

  #onUnexpectedExit(p: TrackedProcess): void {
    const e: UnexpectedExit = { name: p.name, pid: p.pid, how: p.describeExit(), at: new Date().toISOString() };
    this.unexpectedExits.push(e);
    if (this.#state !== 'running' && this.#state !== 'starting') return;
    if (this.#etcdProcs.includes(p) || p === this.#haproxyProc) {
      this.#fatal = `${p.name} (pid ${p.pid}) ${e.how}; see ${p.spec.logFile}:\n${tail(p.spec.logFile, 10)}`;
    }
  }

  #agentsAllDead(): string | null {
    if (this.#agents.size === 0) return 'no agents';
    if ([...this.#agents.values()].some((p) => p.running)) return null;
    return `no agent is running:\n${[...this.#agents.entries()].map(([k, p]) => `${k}: ${p.describeExit()}\n${tail(this.node(k).logFile, 5)}`).join('\n')}`;
  }

  /** An agent that died unexpectedly within its first 10 s (config error, crash on start). */
  #agentExitedEarly(): string | null {
    for (const [name, p] of this.#agents) {
      if (!p.expectedExit && p.exitInfo && p.exitInfo.at - p.startedAt < 10_000) {
        return `agent ${name} ${p.describeExit()} right after start; ${this.node(name).logFile}:\n${tail(this.node(name).logFile, 10)}`;
      }
    }
    return null;
  }

  #pickEtcd(members?: readonly number[]): TrackedProcess[] {
    this.#requireStarted('etcd');
    if (!members) return this.#etcdProcs;
    return members.map((i) => {
      const p = this.#etcdProcs[i];
      if (!p) throw new Error(`LocalCluster: no etcd member ${i} (0..${this.#etcdProcs.length - 1})`);
      return p;
    });
  }

  #runningAgent(ref: NodeRef): TrackedProcess {
    const n = this.node(ref);
    const p = this.#agents.get(n.name);
    if (!p || !p.running) throw new Error(`LocalCluster: agent ${n.name} is not running`);
    return p;
  }

  #stoppingReason(): string | null {
    return this.#state === 'stopping' || this.#state === 'stopped' ? 'the cluster is being stopped' : null;
  }

  #checkStopping(): void {
    const r = this.#stoppingReason();
    if (r) throw new Error(r);
  }

  #requireSupervisor(): ProcessSupervisor {
    if (!this.#supervisor) throw new Error('LocalCluster: not started');
    return this.#supervisor;
  }

  #requireStarted(what: string): void {
    if (this.#state === 'new' || (this.#state === 'starting' && this.#etcd.length === 0)) {
      throw new Error(`LocalCluster.${what}: call start() first`);
    }
  }

  #requireRunning(what: string): void {
    if (this.#state !== 'running') throw new Error(`LocalCluster.${what}: the cluster is ${this.#state}`);
  }

  #writeRunFile(extra: Record<string, unknown>): void {
    updateRunFile(this.runDir, (prev) => ({
      runId: this.runId,
      runDir: this.runDir,
      createdAt: prev.createdAt ?? new Date().toISOString(),
      shmDir: this.#shmDir,
      dataDirs: this.#nodes.map((n) => n.dataDir),
      scope: this.scope,
      etcd: this.#etcd.map((m) => ({ name: m.name, clientPort: m.clientPort, peerPort: m.peerPort, dataDir: m.dataDir })),
      nodes: this.#nodes.map((n) => ({ name: n.name, apiUrl: n.apiUrl, pgPort: n.pgPort, dataDir: n.dataDir })),
      haproxy: this.#haproxyPorts,
      state: this.#state,
      ...extra,
    }));
  }
}
