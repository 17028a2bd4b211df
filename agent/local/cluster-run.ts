// The run behind a LocalCluster: its processes and their state, and the sequences that start
// them (run dir, preflight, etcd, nodes and agents, HAProxy) and stop them again.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { pino } from 'pino';
import { LOCALHOST, type HaproxyPorts, type LocalClusterState, type LocalNode, type UnexpectedExit } from './cluster-types.js';
import { LOCAL_ETCD_TIMING, type EtcdMember } from './etcd.js';
import { stopProcesses } from './faults.js';
import { LatencyRelays } from './latency-relays.js';
import { NetnsNetwork } from './netns.js';
import { describeNode, prepareNodeDirs, spawnAgent } from './nodes.js';
import { allocatePorts } from './ports.js';
import { preflight } from './preflight.js';
import { readStat } from './procfs.js';
import { OWNER_FILE, reapStale } from './reap.js';
import { chooseShmDir, eventLog, openClusterLog, tail, updateRunFile } from './run-dir.js';
import { startEtcd, startHaproxy } from './services.js';
import type { ClusterSettings } from './settings.js';
import {
  findSetpriv, ProcessSupervisor, registerEmergency, type EventLog, type RunAs, type TrackedProcess,
} from './supervisor.js';

export class ClusterRun {
  /** Exits nobody asked for (crashes, config errors), newest last. */
  readonly unexpectedExits: UnexpectedExit[] = [];
  readonly #s: ClusterSettings;
  #log: EventLog;
  #fileLog: ReturnType<typeof pino.destination> | null = null;
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
  readonly #agents = new Map<string, TrackedProcess>();
  #haproxyPorts: HaproxyPorts | null = null;
  #haproxyProc: TrackedProcess | null = null;
  #fatal: string | null = null;
  #net: NetnsNetwork | null = null;
  #relays: LatencyRelays | null = null;

  constructor(settings: ClusterSettings) {
    this.#s = settings;
    this.#log = this.#makeLog(null);
  }

  get state(): LocalClusterState { return this.#state; }
  get log(): EventLog { return this.#log; }
  get nodes(): readonly LocalNode[] { return this.#nodes; }
  get etcd(): readonly EtcdMember[] { return this.#etcd; }
  get etcdProcs(): readonly TrackedProcess[] { return this.#etcdProcs; }
  get agents(): ReadonlyMap<string, TrackedProcess> { return this.#agents; }
  get supervisor(): ProcessSupervisor | null { return this.#supervisor; }
  get haproxyPorts(): HaproxyPorts | null { return this.#haproxyPorts; }
  get net(): NetnsNetwork | null { return this.#net; }
  get relays(): LatencyRelays | null { return this.#relays; }
  /** Why waiting is pointless: etcd or HAProxy died while the cluster was up (null: they did not). */
  get fatal(): string | null { return this.#fatal; }

  /** Events go to <run>/cluster.log (from start() on) and to the caller's logger, if any. */
  #makeLog(file: ReturnType<typeof openClusterLog>['logger'] | null): EventLog {
    return eventLog(file, this.#s.opts.logger?.child({ component: 'local-cluster', run: this.#s.runId }));
  }

  #openRunDir(): void {
    mkdirSync(this.#s.runDir, { recursive: true, mode: 0o755 });
    const { destination, logger } = openClusterLog(this.#s.runDir, this.#s.runId);
    this.#fileLog = destination;
    this.#log = this.#makeLog(logger);
  }

  start(): Promise<void> {
    if (this.#startPromise) return this.#startPromise;
    if (this.#state !== 'new') return Promise.reject(new Error(`LocalCluster: cannot start from state ${this.#state}`));
    this.#state = 'starting';
    this.#startRaw = this.#start();
    this.#startPromise = this.#startRaw.catch(async (err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      this.#log.error({ err: msg }, 'start failed');
      if (this.#state === 'starting') await this.stop().catch(() => undefined);
      const e = new Error(`LocalCluster start failed: ${msg}\n  run dir (logs): ${this.#s.runDir}`);
      (e as Error & { cause?: unknown }).cause = err;
      throw e;
    });
    return this.#startPromise;
  }

  async #start(): Promise<void> {
    const t0 = Date.now();
    this.#openRunDir();
    this.#runAs = preflight({
      bins: this.#s.bins, haproxy: this.#s.opts.haproxy !== false, agentCount: this.#s.agentCount, pgBinDir: this.#s.pgBinDir,
      cli: this.#s.cli, repoDir: this.#s.repoDir, runDir: this.#s.runDir, runAsUser: this.#s.opts.runAsUser ?? 'postgres', log: this.#log,
    });
    if (this.#s.opts.reapStale !== false) {
      const reaped = await reapStale(this.#s.baseDir);
      for (const r of reaped) this.#log.warn({ ...r }, 'reaped a crashed run');
    }
    const self = readStat(process.pid);
    this.#shmDir = this.#s.opts.etcdOnTmpfs === false ? null : chooseShmDir(this.#s.runId, this.#s.etcdCount);
    this.#writeRunFile({ ownerPid: process.pid, ownerStartTime: self?.startTime ?? null });
    if (this.#s.opts.netns) {
      this.#net = NetnsNetwork.create(Array.from({ length: this.#s.agentCount }, (_, i) => `node${i + 1}`));
      this.#writeRunFile({ netns: { tag: this.#net.tag, subnet: this.#net.subnet, bridge: this.#net.bridge, namespaces: this.#net.nodes.map((n) => n.ns) } });
      this.#log.info({ tag: this.#net.tag, subnet: this.#net.subnet }, 'network namespaces created');
    }
    if (this.#shmDir) {
      mkdirSync(this.#shmDir, { recursive: true, mode: 0o700 });
      writeFileSync(join(this.#shmDir, OWNER_FILE), JSON.stringify({ runDir: this.#s.runDir, ownerPid: process.pid, ownerStartTime: self?.startTime ?? null }));
    }
    this.#supervisor = new ProcessSupervisor({
      runDir: this.#s.runDir,
      runId: this.#s.runId,
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
      { signals: this.#s.opts.signalHandlers !== false },
    );

    await this.#startEtcd();
    this.#checkStopping();

    if (this.#s.agentCount > 0) {
      const ports = await allocatePorts(this.#s.agentCount * 2);
      this.#nodes = Array.from({ length: this.#s.agentCount }, (_, i) => describeNode(this.#s.runDir, this.#net, this.#s.opts, i, ports[2 * i]!, ports[2 * i + 1]!));
      prepareNodeDirs(this.#nodes, {
        opts: this.#s.opts, scope: this.#s.scope, namespace: this.#s.namespace, pgBinDir: this.#s.pgBinDir, credentials: this.#s.credentials,
        etcdHosts: this.#etcd.map((m) => `${this.#net ? this.#net.etcdAddress : LOCALHOST}:${m.clientPort}`),
        net: this.#net, runAs: this.#runAs,
      });
      this.#writeRunFile({});
      if (this.#net && this.#s.opts.latencyRelay) await this.#startRelays(this.#net);
      for (const n of this.#nodes) this.spawnAgent(n);
    }
    this.#checkStopping();

    if (this.#s.opts.haproxy !== false) await this.#startHaproxy();
    this.#checkStopping();
    this.#state = 'running';
    this.#writeRunFile({});
    this.#log.info({ ms: Date.now() - t0, runDir: this.#s.runDir }, 'local cluster started');
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
      }, this.#s.timeouts, this.#log);
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
    rmSync(this.#s.runDir, { recursive: true, force: true });
  }

  async #startEtcd(): Promise<void> {
    await startEtcd({
      supervisor: this.requireSupervisor(),
      count: this.#s.etcdCount,
      etcdBin: this.#s.bins.etcd,
      runId: this.#s.runId,
      runDir: this.#s.runDir,
      dataRoot: this.#shmDir ?? this.#s.runDir,
      net: this.#net,
      timing: this.#s.opts.etcdTiming ?? LOCAL_ETCD_TIMING,
      readyMs: this.#s.timeouts.etcdReadyMs,
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
      supervisor: this.requireSupervisor(),
      nodes: this.#nodes,
      etcd: this.#etcd.map((m, i) => ({ label: `etcd${i + 1}`, host: net.etcdAddress, port: m.clientPort })),
      relayMain: join(dirname(this.#s.cli), 'local', 'delay-relay-main.js'),
      setpriv: findSetpriv(),
    });
    this.#log.info({ nodes: this.#nodes.map((n) => n.name) }, 'latency relays up');
  }

  spawnAgent(n: LocalNode): TrackedProcess {
    const p = spawnAgent(n, { supervisor: this.requireSupervisor(), cli: this.#s.cli, runAs: this.#runAs, net: this.#net });
    this.#agents.set(n.name, p);
    return p;
  }

  async #startHaproxy(): Promise<void> {
    await startHaproxy({
      supervisor: this.requireSupervisor(),
      haproxyBin: this.#s.bins.haproxy,
      runDir: this.#s.runDir,
      scope: this.#s.scope,
      nodes: this.#nodes,
      replicaLag: this.#s.opts.replicaLag,
      net: this.#net,
      readyMs: this.#s.timeouts.haproxyReadyMs,
      log: this.#log,
      stopping: () => this.#stoppingReason(),
      onPorts: (ports) => {
        this.#haproxyPorts = ports;
        this.#writeRunFile({});
      },
      onSpawned: (proc) => { this.#haproxyProc = proc; },
    });
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

  #stoppingReason(): string | null {
    return this.#state === 'stopping' || this.#state === 'stopped' ? 'the cluster is being stopped' : null;
  }

  #checkStopping(): void {
    const r = this.#stoppingReason();
    if (r) throw new Error(r);
  }

  requireSupervisor(): ProcessSupervisor {
    if (!this.#supervisor) throw new Error('LocalCluster: not started');
    return this.#supervisor;
  }

  #writeRunFile(extra: Record<string, unknown>): void {
    updateRunFile(this.#s.runDir, (prev) => ({
      runId: this.#s.runId,
      runDir: this.#s.runDir,
      createdAt: prev.createdAt ?? new Date().toISOString(),
      shmDir: this.#shmDir,
      dataDirs: this.#nodes.map((n) => n.dataDir),
      scope: this.#s.scope,
      etcd: this.#etcd.map((m) => ({ name: m.name, clientPort: m.clientPort, peerPort: m.peerPort, dataDir: m.dataDir })),
      nodes: this.#nodes.map((n) => ({ name: n.name, apiUrl: n.apiUrl, pgPort: n.pgPort, dataDir: n.dataDir })),
      haproxy: this.#haproxyPorts,
      state: this.#state,
      ...extra,
    }));
  }
}
