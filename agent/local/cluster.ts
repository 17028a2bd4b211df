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
import { randomBytes } from 'node:crypto';
import {
  accessSync, chownSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statfsSync, writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { Logger } from '../log.js';
import { REDACT_PATHS } from '../log.js';
import type { AgentConfig, DynamicConfig, StaticTags } from '../config/types.js';
import { renderHaproxyConfig } from '../../proxy-config/render.js';
import { checkHaproxyConfig, writeHaproxyConfig } from '../../proxy-config/write.js';
import { deepMerge, renderAgentConfig, type DeepPartial, type LocalCredentials } from './agent-config.js';
import {
  clientUrl, etcdArgs, etcdMemberHealth, LOCAL_ETCD_TIMING, runEtcdctl, type EtcdctlResult, type EtcdMember, type EtcdTiming,
} from './etcd.js';
import { fetchHaproxyServers, haproxyArgs, type HaproxyServerState } from './haproxy.js';
import { NetnsNetwork } from './netns.js';
import { LatencyRelays } from './latency-relays.js';
import { allocatePorts } from './ports.js';
import { findPostmaster, readStat, signalQuietly, stopAndConfirm, withDescendants } from './procfs.js';
import { OWNER_FILE, reapStale, RUN_FILE, SHM_PREFIX, type ReapResult } from './reap.js';
import {
  findSetpriv, ProcessSupervisor, registerEmergency, resolveUser, waitGone,
  type EventLog, type RunAs, type TrackedProcess,
} from './supervisor.js';
import { deadline, waitFor, type WaitOptions } from './wait.js';

export interface LocalClusterTimeouts {
  /** etcd members up and the cluster healthy. Default 30 s. */
  etcdReadyMs: number;
  /** HAProxy answering on its stats port. Default 10 s. */
  haproxyReadyMs: number;
  /** An agent's clean exit after SIGTERM, before SIGKILL. Default 20 s. */
  agentStopMs: number;
  /** A leftover postmaster's exit after SIGQUIT, before SIGKILL. Default 5 s. */
  postgresStopMs: number;
  /** HAProxy's exit after SIGTERM, before SIGKILL. Default 5 s. */
  serviceStopMs: number;
}

export interface LocalClusterOptions {
  /** Number of pgwarden agents (node1..nodeN). Default 3; 0 starts etcd and HAProxy only. */
  agents?: number;
  /** etcd members. Default 3. */
  etcdMembers?: number;
  /** Cluster name. Default "local". */
  scope?: string;
  /** etcd key prefix root. Default "/pgwarden". */
  namespace?: string;
  /** Where run directories go. Default /tmp/pgwarden-runs. */
  baseDir?: string;
  /** Default: <UTC date-time>-<random>. */
  runId?: string;
  /** `bootstrap.dcs` overrides written into every agent's config (e.g. `{ ttl: 5 }`). */
  dcs?: DeepPartial<DynamicConfig>;
  /** Static `postgresql.parameters` of every node. */
  pgParameters?: Record<string, string | number | boolean>;
  /** Tags per node name, e.g. `{ node3: { nofailover: true } }`. */
  tags?: Record<string, Partial<StaticTags>>;
  /** Deep-merged into each node's YAML last (null deletes a key). */
  extraConfig?: Record<string, unknown> | ((name: string, index: number) => Record<string, unknown>);
  /** The agents' log level. Default "debug" (logs are files; post-mortems want detail). */
  agentLogLevel?: AgentConfig['log']['level'];
  /** Start HAProxy. Default true. */
  haproxy?: boolean;
  /** Route read-only traffic only to replicas within this lag (`/replica?lag=…`). */
  replicaLag?: string;
  /** Repository root (holds dist/agent/cli.js). Default: found from this file. */
  repoDir?: string;
  pgBinDir?: string;
  etcdBin?: string;
  etcdctlBin?: string;
  haproxyBin?: string;
  /** When the harness is root, agents run as this OS user. Default "postgres". */
  runAsUser?: string;
  /** Put etcd's data on /dev/shm when it has room. Default true. */
  etcdOnTmpfs?: boolean;
  etcdTiming?: EtcdTiming;
  timeouts?: Partial<LocalClusterTimeouts>;
  /** Kill everything synchronously on SIGINT/SIGTERM/SIGHUP. Default true; a CLI that stops
   *  gracefully on signals itself can turn this off (the 'exit' hook stays). */
  signalHandlers?: boolean;
  /** Reap crashed runs under baseDir before starting. Default true. */
  reapStale?: boolean;
  /** Also receives the harness's events (they always go to <run>/cluster.log). */
  logger?: Logger;
  /**
   * Run each node (agent + PostgreSQL) in its own network namespace with its own address, linked
   * to a bridge where etcd and HAProxy are reached (see netns.ts); enables `cluster.net` faults
   * (partitions, latency). Needs root, ip, iptables and tc. Default false: everything on loopback.
   */
  netns?: boolean;
  /**
   * With netns: pass every connection of every node through a delay relay (latency-relays.ts), so
   * `setLatency` can slow a node's links on kernels without tc netem. Default false.
   */
  latencyRelay?: boolean;
}

export interface LocalNode {
  readonly name: string;
  readonly index: number;
  /** <run>/nodeN */
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  /** The agent's stdout+stderr (pino JSON lines). */
  readonly logFile: string;
  readonly apiHost: string;
  readonly apiPort: number;
  /** http://127.0.0.1:<apiPort> */
  readonly apiUrl: string;
  readonly pgHost: string;
  readonly pgPort: number;
  readonly tags: Partial<StaticTags>;
}

export type NodeRef = string | LocalNode;

export interface HaproxyPorts {
  readonly rwPort: number;
  readonly roPort: number;
  readonly statsPort: number;
}

/** The agent's status document (SPEC §1.3); only the fields the harness reads are typed. */
export interface AgentStatus {
  name?: string;
  role?: 'primary' | 'replica' | 'uninitialized' | string;
  state?: string;
  timeline?: number;
  /** On a primary: the synchronous replication state and the standbys published in `sync`. */
  synchronous_replication?: { state?: string; standbys?: string[] };
  [key: string]: unknown;
}

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  readonly body: unknown;
}

export interface UnexpectedExit {
  readonly name: string;
  readonly pid: number;
  readonly how: string;
  readonly at: string;
}

export type LocalClusterState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

const DEFAULT_TIMEOUTS: LocalClusterTimeouts = {
  etcdReadyMs: 30_000,
  haproxyReadyMs: 10_000,
  agentStopMs: 20_000,
  postgresStopMs: 5_000,
  serviceStopMs: 5_000,
};

const TERMINATING: ReadonlySet<string> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGABRT']);

export const DEFAULT_BASE_DIR = '/tmp/pgwarden-runs';
const LOCALHOST = '127.0.0.1';

function newRunId(): string {
  const d = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${d}-${randomBytes(3).toString('hex')}`;
}

function secret(): string {
  return randomBytes(12).toString('hex');
}

/** Walks up from this file to the directory holding pgwarden's package.json. */
export function findRepoDir(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'pgwarden') return dir;
    } catch {
      // keep walking
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`LocalCluster: cannot find the pgwarden repository above ${from}; pass repoDir`);
    dir = up;
  }
}

function tail(file: string, lines = 20): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.split('\n').filter(Boolean).slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

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
  #makeLog(file: Logger | null): EventLog {
    const mirror = this.#opts.logger?.child({ component: 'local-cluster', run: this.runId });
    return {
      debug: (o, m) => { file?.debug(o, m); mirror?.debug(o, m); },
      info: (o, m) => { file?.info(o, m); mirror?.info(o, m); },
      warn: (o, m) => { file?.warn(o, m); mirror?.warn(o, m); },
      error: (o, m) => { file?.error(o, m); mirror?.error(o, m); },
    };
  }

  #openRunDir(): void {
    mkdirSync(this.runDir, { recursive: true, mode: 0o755 });
    this.#fileLog = pino.destination({ dest: join(this.runDir, 'cluster.log'), sync: true });
    const file = pino({ level: 'debug', base: { run: this.runId }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, this.#fileLog);
    this.#log = this.#makeLog(file);
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
    this.#preflight();
    if (this.#opts.reapStale !== false) {
      const reaped = await reapStale(this.baseDir);
      for (const r of reaped) this.#log.warn({ ...r }, 'reaped a crashed run');
    }
    const self = readStat(process.pid);
    this.#shmDir = this.#chooseShmDir();
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
      this.#nodes = Array.from({ length: this.#agentCount }, (_, i) => this.#describeNode(i, ports[2 * i]!, ports[2 * i + 1]!));
      this.#prepareNodeDirs();
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
      const t = this.#timeouts;
      // Frozen processes cannot act on SIGTERM; agents need a live etcd to hand over cleanly.
      for (const p of sup.processes) if (p.running) signalQuietly(p.pid, 'SIGCONT');
      if (this.#haproxyProc) await sup.terminate(this.#haproxyProc, { timeoutMs: t.serviceStopMs });
      await Promise.all([...this.#agents.values()].map((p) => sup.terminate(p, { timeoutMs: t.agentStopMs })));
      await this.#stopPostmasters();
      // etcd last, and bluntly: its data is thrown away, and a SIGTERMed leader spends up to 5 s
      // trying to hand leadership to members that are shutting down too.
      await Promise.all(this.#etcdProcs.map((p) => sup.terminate(p, { signal: 'SIGKILL', timeoutMs: t.serviceStopMs })));
      const left = sup.killAllSync();
      if (left.length > 0) {
        this.#log.warn({ pids: left }, 'killed leftover processes');
        const stuck = await waitGone(left, 5000);
        if (stuck.length > 0) this.#log.error({ pids: stuck }, 'processes survived SIGKILL');
      }
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
  async killAgent(ref: NodeRef, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(ref);
    const p = this.#agents.get(n.name);
    if (!p || !p.running) throw new Error(`LocalCluster: agent ${n.name} is not running`);
    if (TERMINATING.has(signal)) p.expectedExit = true;
    this.#log.info({ node: n.name, pid: p.pid, signal }, 'killAgent');
    if (!signalQuietly(p.pid, signal)) throw new Error(`LocalCluster: could not signal agent ${n.name} (pid ${p.pid})`);
    if (signal === 'SIGKILL') await deadline(p.exited, 5000, `agent ${n.name} (pid ${p.pid}) to exit after SIGKILL`);
  }

  /**
   * SIGKILL a node's postmaster (found through postmaster.pid) and, unless `postmasterOnly`, its
   * children at the same instant. Resolves the postmaster's pid once they are gone.
   */
  async killPostgres(ref: NodeRef, opts: { postmasterOnly?: boolean } = {}): Promise<number> {
    const n = this.node(ref);
    const pm = findPostmaster(n.dataDir);
    if (pm === null) throw new Error(`LocalCluster: no running postmaster for ${n.name} (${n.dataDir}/postmaster.pid)`);
    const pids = opts.postmasterOnly ? [pm] : [...withDescendants([pm])];
    this.#log.info({ node: n.name, postmaster: pm, pids }, 'killPostgres');
    for (const pid of pids) signalQuietly(pid, 'SIGKILL');
    await this.#waitGoneOrThrow(pids, 5000, `PostgreSQL of ${n.name}`);
    return pm;
  }

  /** A node "loses power": its agent, its PostgreSQL and anything they started, SIGKILLed at once. */
  async killNode(ref: NodeRef): Promise<void> {
    const n = this.node(ref);
    const sup = this.#requireSupervisor();
    const agent = this.#agents.get(n.name);
    if (agent) agent.expectedExit = true;
    const pids = new Set(sup.runProcesses({ node: n.name }));
    const pm = findPostmaster(n.dataDir);
    if (pm !== null) for (const pid of withDescendants([pm])) pids.add(pid);
    this.#log.info({ node: n.name, pids: [...pids] }, 'killNode');
    for (const pid of pids) signalQuietly(pid, 'SIGKILL');
    await this.#waitGoneOrThrow(pids, 5000, `processes of ${n.name}`);
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
    for (const p of this.#pickEtcd(members)) {
      this.#log.info({ proc: p.name, pid: p.pid, confirmed: stopAndConfirm(p.pid) }, 'freeze');
    }
  }

  thawEtcd(members?: readonly number[]): void {
    for (const p of this.#pickEtcd(members)) {
      this.#log.info({ proc: p.name, pid: p.pid }, 'thaw');
      signalQuietly(p.pid, 'SIGCONT');
    }
  }

  /** SIGSTOP a node's agent (a hung agent; its PostgreSQL keeps running). */
  freezeAgent(ref: NodeRef): void {
    const p = this.#runningAgent(ref);
    this.#log.info({ proc: p.name, pid: p.pid, confirmed: stopAndConfirm(p.pid) }, 'freeze');
  }

  thawAgent(ref: NodeRef): void {
    const p = this.#runningAgent(ref);
    this.#log.info({ proc: p.name, pid: p.pid }, 'thaw');
    signalQuietly(p.pid, 'SIGCONT');
  }

  // ---------------------------------------------------------------------------------------------
  // Talking to the pieces

  /** GET <apiUrl>/status (short timeout). Rejects when the agent does not answer in time. */
  async apiStatus(ref: NodeRef, timeoutMs = 1000): Promise<AgentStatus> {
    const res = await this.api(ref, '/status', { timeoutMs, auth: false });
    if (res.status !== 200 || typeof res.body !== 'object' || res.body === null) {
      throw new Error(`GET ${this.node(ref).apiUrl}/status: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    }
    return res.body as AgentStatus;
  }

  /** Any REST call; mutating calls carry the generated basic-auth credentials unless auth: false. */
  async api(
    ref: NodeRef,
    path: string,
    opts: { method?: string; body?: unknown; timeoutMs?: number; auth?: boolean } = {},
  ): Promise<ApiResponse> {
    const n = this.node(ref);
    const headers: Record<string, string> = {};
    if (opts.auth !== false) {
      const a = this.credentials.api;
      headers.authorization = `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
    }
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${n.apiUrl}${path}`, {
      method: opts.method ?? 'GET',
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 2000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body };
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
  async statuses(timeoutMs = 1000): Promise<Record<string, AgentStatus>> {
    const out: Record<string, AgentStatus> = {};
    await Promise.all(
      this.#nodes.filter((n) => this.agentRunning(n)).map(async (n) => {
        try {
          out[n.name] = await this.apiStatus(n, timeoutMs);
        } catch {
          // not answering: left out
        }
      }),
    );
    return out;
  }

  /** Wait until exactly one running agent reports role primary with PostgreSQL running. */
  async waitForPrimary(opts: { timeoutMs?: number; exclude?: readonly string[] } = {}): Promise<LocalNode> {
    const running = (s: Record<string, AgentStatus>) => Object.entries(s).filter(([, st]) => st.role === 'primary' && st.state === 'running');
    const summary = await this.waitFor(() => this.statuses(), {
      timeoutMs: opts.timeoutMs ?? 60_000,
      intervalMs: 200,
      what: 'one running primary',
      until: (s) => {
        const primaries = running(s);
        return primaries.length === 1 && !(opts.exclude ?? []).includes(primaries[0]![0]);
      },
      failIf: () => this.#agentsAllDead(),
    });
    // The running one: a fenced former primary may still say role "primary" (state stopped).
    return this.node(running(summary)[0]![0]);
  }

  /**
   * Wait until one node is a running primary, `replicas` others (default: every other running
   * agent) are running replicas, and HAProxy (when started) routes read-write traffic to the primary
   * only and read-only traffic to those replicas (except the ones tagged noloadbalance).
   */
  async waitUntilReady(opts: { timeoutMs?: number; replicas?: number } = {}): Promise<{ primary: LocalNode; replicas: LocalNode[] }> {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const want = () => opts.replicas ?? Math.max(0, [...this.#agents.values()].filter((p) => p.running).length - 1);
    const s = await this.waitFor(() => this.statuses(), {
      timeoutMs,
      intervalMs: 250,
      what: `one running primary and ${opts.replicas ?? 'all other'} running replicas`,
      until: (st) => {
        const v = Object.values(st);
        return v.filter((x) => x.role === 'primary' && x.state === 'running').length === 1 &&
          v.filter((x) => x.role === 'replica' && x.state === 'running').length >= want();
      },
      failIf: () => this.#agentsAllDead() ?? this.#agentExitedEarly(),
    });
    const primary = this.node(Object.entries(s).find(([, x]) => x.role === 'primary')![0]);
    const replicas = Object.entries(s).filter(([, x]) => x.role === 'replica' && x.state === 'running').map(([k]) => this.node(k));
    if (this.#haproxyPorts) {
      const balanced = replicas.filter((n) => n.tags.noloadbalance !== true).map((n) => n.name);
      const up = (rows: readonly HaproxyServerState[], suffix: string) =>
        rows.filter((r) => r.proxy === `${this.#proxyScope()}_${suffix}` && r.status.startsWith('UP')).map((r) => r.server);
      await this.waitFor(() => this.haproxyServers(), {
        timeoutMs,
        what: `HAProxy to route read-write traffic to ${primary.name} only and read-only traffic to ${balanced.join(', ') || 'nobody'}`,
        until: (rows) => up(rows, 'rw').join(',') === primary.name && balanced.every((name) => up(rows, 'ro').includes(name)),
      });
    }
    return { primary, replicas };
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  #preflight(): void {
    const need = (path: string, what: string) => {
      try {
        accessSync(path, constants.X_OK);
      } catch {
        throw new Error(`${what} not found at ${path} (run deploy/install-deps.sh as root)`);
      }
    };
    need(this.#bins.etcd, 'etcd');
    need(this.#bins.etcdctl, 'etcdctl');
    if (this.#opts.haproxy !== false) need(this.#bins.haproxy, 'HAProxy');
    if (this.#agentCount > 0) {
      need(join(this.#pgBinDir, 'postgres'), 'PostgreSQL');
      if (!existsSync(this.#cli)) {
        throw new Error(`the agent is not built: ${this.#cli} is missing (run npm run build in ${this.repoDir})`);
      }
      if (process.getuid?.() === 0) {
        this.#runAs = resolveUser(this.#opts.runAsUser ?? 'postgres');
        if (!findSetpriv()) this.#log.warn({}, 'setpriv with --pdeathsig not found: children are not killed by the kernel if the harness dies');
        this.#checkAccessAs(this.#runAs);
      }
    }
  }

  #chooseShmDir(): string | null {
    if (this.#opts.etcdOnTmpfs === false) return null;
    try {
      const st = statfsSync('/dev/shm');
      // etcd preallocates a 64 MB WAL segment per member; leave generous headroom.
      if (st.bavail * st.bsize < this.#etcdCount * 256 * 1024 * 1024) return null;
      accessSync('/dev/shm', constants.W_OK);
      return `/dev/shm/${SHM_PREFIX}${this.runId}`;
    } catch {
      return null;
    }
  }

  async #startEtcd(): Promise<void> {
    const sup = this.#requireSupervisor();
    const dataRoot = this.#shmDir ?? this.runDir;
    for (let attempt = 1; ; attempt++) {
      const ports = await allocatePorts(this.#etcdCount * 2);
      this.#etcd = Array.from({ length: this.#etcdCount }, (_, i) => ({
        name: `etcd${i + 1}`,
        clientPort: ports[2 * i]!,
        peerPort: ports[2 * i + 1]!,
        dataDir: join(dataRoot, `etcd-${i + 1}`),
        logFile: join(this.runDir, `etcd${i + 1}.log`),
      }));
      this.#writeRunFile({});
      const timing = this.#opts.etcdTiming ?? LOCAL_ETCD_TIMING;
      const token = `pgwarden-${this.runId}-${attempt}`;
      this.#etcdProcs = this.#etcd.map((m) => {
        rmSync(m.dataDir, { recursive: true, force: true });
        let args = etcdArgs(m, this.#etcd, token, timing);
        if (this.#net) {
          const extraUrl = `http://${this.#net.etcdAddress}:${m.clientPort}`;
          args = args.map((a, k) => (k > 0 && (args[k - 1] === '--listen-client-urls' || args[k - 1] === '--advertise-client-urls') ? `${a},${extraUrl}` : a));
        }
        return sup.spawn({ name: m.name, command: this.#bins.etcd, args, logFile: m.logFile });
      });
      try {
        await waitFor(() => Promise.all(this.#etcd.map((m) => etcdMemberHealth(clientUrl(m), 1000))), {
          timeoutMs: this.#timeouts.etcdReadyMs,
          intervalMs: 100,
          what: `etcd cluster of ${this.#etcdCount} to be healthy`,
          until: (r) => r.every((x) => x === true),
          failIf: () => this.#stoppingReason() ?? this.#etcdDied(),
        });
        this.#log.info({ endpoints: this.#etcd.map(clientUrl) }, 'etcd healthy');
        return;
      } catch (err) {
        const clash = this.#etcd.some((m) => tail(m.logFile, 50).includes('address already in use'));
        await Promise.all(this.#etcdProcs.map((p) => sup.terminate(p, { signal: 'SIGKILL', timeoutMs: 2000 })));
        if (clash && attempt < 3 && !this.#stoppingReason()) {
          this.#log.warn({ attempt }, 'etcd port clash: retrying with other ports');
          continue;
        }
        const logs = this.#etcd.map((m) => `--- ${m.logFile}\n${tail(m.logFile, 8)}`).join('\n');
        throw new Error(`${(err as Error).message}\n${logs}`);
      }
    }
  }

  #etcdDied(): string | null {
    const dead = this.#etcdProcs.find((p) => !p.running);
    return dead ? `${dead.name} ${dead.describeExit()}` : null;
  }

  #describeNode(i: number, apiPort: number, pgPort: number): LocalNode {
    const name = `node${i + 1}`;
    const dir = join(this.runDir, name);
    const host = this.#net ? this.#net.node(name).address : LOCALHOST;
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
      tags: { ...this.#opts.tags?.[name] },
    };
  }

  #prepareNodeDirs(): void {
    const runAs = this.#runAs;
    for (const n of this.#nodes) {
      mkdirSync(n.dir, { recursive: true, mode: 0o700 });
      const userExtra = typeof this.#opts.extraConfig === 'function' ? this.#opts.extraConfig(n.name, n.index) : this.#opts.extraConfig;
      const extra = this.#net ? deepMerge(this.#netnsConfig(n, this.#net), userExtra ?? {}) : userExtra;
      const yaml = renderAgentConfig({
        name: n.name,
        scope: this.scope,
        namespace: this.namespace,
        etcdHosts: this.#etcd.map((m) => `${this.#net ? this.#net.etcdAddress : LOCALHOST}:${m.clientPort}`),
        apiPort: n.apiPort,
        pgPort: n.pgPort,
        dataDir: n.dataDir,
        pgBinDir: this.#pgBinDir,
        credentials: this.credentials,
        logLevel: this.#opts.agentLogLevel ?? 'debug',
        ...(this.#opts.pgParameters ? { pgParameters: this.#opts.pgParameters } : {}),
        tags: n.tags,
        ...(this.#opts.dcs ? { dcs: this.#opts.dcs } : {}),
        ...(extra ? { extra } : {}),
      });
      writeFileSync(n.configFile, yaml, { mode: 0o600 });
      if (runAs) {
        chownSync(n.dir, runAs.uid, runAs.gid);
        chownSync(n.configFile, runAs.uid, runAs.gid);
      }
    }
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

  /** A node's listen/connect addresses and pg_hba inside its namespace. */
  #netnsConfig(n: LocalNode, net: NetnsNetwork): Record<string, unknown> {
    const c = this.credentials;
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

  /** As the agents' user: can it run node, read the repository and reach the run directory? */
  #checkAccessAs(runAs: RunAs): void {
    const script = [
      "const fs = require('fs'); const [r, x] = JSON.parse(process.argv[1]); const bad = [];",
      'for (const p of r) { try { fs.accessSync(p, fs.constants.R_OK); } catch { bad.push(`read ${p}`); } }',
      'for (const p of x) { try { fs.accessSync(p, fs.constants.X_OK); } catch { bad.push(`enter ${p}`); } }',
      "if (bad.length) { console.log(bad.join('\\n')); process.exit(3); }",
    ].join('\n');
    const readable = [this.#cli, join(this.repoDir, 'package.json'), join(this.repoDir, 'node_modules', 'pino', 'package.json')];
    const enterable = [this.runDir];
    const setpriv = findSetpriv();
    const args = ['-e', script, JSON.stringify([readable, enterable])];
    // (node dirs are created and chowned to the user afterwards)
    const r = setpriv
      ? spawnSync(setpriv, ['--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--init-groups', '--', process.execPath, ...args], { encoding: 'utf8', timeout: 15_000 })
      : spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 15_000, uid: runAs.uid, gid: runAs.gid });
    if (r.status === 0) return;
    if (r.status === 3) {
      const problems = r.stdout.trim().split('\n');
      const hints = [
        ...(problems.some((p) => p.startsWith('read ')) ? [`make the repository readable by it (chmod -R o+rX ${this.repoDir}, and o+x on its parent directories)`] : []),
        ...(problems.some((p) => p.startsWith('enter ')) ? [`use a baseDir it can reach (default ${DEFAULT_BASE_DIR})`] : []),
      ];
      throw new Error(
        `the agents run as OS user "${runAs.user}" (PostgreSQL refuses root), which cannot:\n  ` +
          `${problems.join('\n  ')}\nFix: ${hints.join('; ')}.`,
      );
    }
    throw new Error(
      `cannot run ${process.execPath} as OS user "${runAs.user}" (status ${String(r.status)}): ` +
        `${(r.stderr || r.error?.message || '').trim()}. The node binary and its directories must be executable by "${runAs.user}".`,
    );
  }

  #spawnAgent(n: LocalNode): TrackedProcess {
    if (this.#net) return this.#spawnAgentInNetns(n, this.#net);
    const p = this.#requireSupervisor().spawn({
      name: `agent ${n.name}`,
      command: process.execPath,
      args: [this.#cli, 'agent', '-c', n.configFile],
      logFile: n.logFile,
      cwd: n.dir,
      runAs: this.#runAs,
      node: n.name,
    });
    this.#agents.set(n.name, p);
    return p;
  }

  /** `ip netns exec <ns> setpriv --reuid … --pdeathsig KILL -- node cli.js agent` (ip execs in place: same pid). */
  #spawnAgentInNetns(n: LocalNode, net: NetnsNetwork): TrackedProcess {
    const runAs = this.#runAs;
    const setpriv = findSetpriv();
    const drop = runAs && setpriv
      ? [setpriv, '--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--init-groups', '--pdeathsig', 'KILL', '--']
      : [];
    if (runAs && !setpriv) throw new Error('LocalCluster netns: setpriv (util-linux) is needed to drop to the agents\' user inside a namespace');
    const [ip, ...prefix] = net.execPrefix(n.name);
    const p = this.#requireSupervisor().spawn({
      name: `agent ${n.name}`,
      command: ip!,
      args: [...prefix, ...drop, process.execPath, this.#cli, 'agent', '-c', n.configFile],
      logFile: n.logFile,
      cwd: n.dir,
      runAs: null,
      node: n.name,
      ...(runAs ? { env: { HOME: runAs.home, USER: runAs.user, LOGNAME: runAs.user } } : {}),
    });
    if (runAs) chownSync(n.logFile, runAs.uid, runAs.gid);
    this.#agents.set(n.name, p);
    return p;
  }

  async #startHaproxy(): Promise<void> {
    const sup = this.#requireSupervisor();
    const [rwPort, roPort, statsPort] = (await allocatePorts(3)) as [number, number, number];
    const cfgFile = join(this.runDir, 'haproxy.cfg');
    let text = renderHaproxyConfig({
      scope: this.scope,
      members: this.#nodes.map((n) => ({ name: n.name, host: n.pgHost, port: n.pgPort, apiHost: n.apiHost, apiPort: n.apiPort })),
      listen: { rw: `${LOCALHOST}:${rwPort}`, ro: `${LOCALHOST}:${roPort}`, stats: `${LOCALHOST}:${statsPort}` },
      ...(this.#opts.replicaLag !== undefined ? { replicaLag: this.#opts.replicaLag } : {}),
    });
    // netns: health checks and forwarded connections leave from HAProxy's own bridge address, so
    // a node can drop HAProxy's packets without dropping the harness's.
    if (this.#net) text = text.replace(/^defaults$/m, `defaults\n    source ${this.#net.haproxyAddress}`);
    await writeHaproxyConfig(cfgFile, text);
    const check = await checkHaproxyConfig(cfgFile, { haproxyBin: this.#bins.haproxy });
    if (!check.ok) throw new Error(`HAProxy rejects ${cfgFile}:\n${check.output}`);
    this.#haproxyPorts = { rwPort, roPort, statsPort };
    this.#writeRunFile({});
    const p = sup.spawn({
      name: 'haproxy',
      command: this.#bins.haproxy,
      args: haproxyArgs(cfgFile, join(this.runDir, 'haproxy.pid')),
      logFile: join(this.runDir, 'haproxy.log'),
    });
    this.#haproxyProc = p;
    await waitFor(() => fetchHaproxyServers(statsPort, 500), {
      timeoutMs: this.#timeouts.haproxyReadyMs,
      what: `HAProxy stats on 127.0.0.1:${statsPort}`,
      failIf: () => this.#stoppingReason() ?? (p.running ? null : `haproxy ${p.describeExit()}: ${tail(p.spec.logFile, 8)}`),
      until: () => true,
    });
    this.#log.info({ rwPort, roPort, statsPort }, 'haproxy up');
  }

  #proxyScope(): string {
    return this.scope.replace(/[^A-Za-z0-9_.:-]/g, '_');
  }

  async #stopPostmasters(): Promise<void> {
    const pms: number[] = [];
    for (const n of this.#nodes) {
      const pm = findPostmaster(n.dataDir);
      if (pm === null) continue;
      this.#log.warn({ node: n.name, pid: pm }, 'postmaster outlived its agent: SIGQUIT');
      signalQuietly(pm, 'SIGCONT');
      signalQuietly(pm, 'SIGQUIT');
      pms.push(pm);
    }
    if (pms.length === 0) return;
    const stuck = await waitGone(pms, this.#timeouts.postgresStopMs);
    if (stuck.length > 0) {
      this.#log.warn({ pids: stuck }, 'postmaster ignored SIGQUIT: SIGKILL');
      for (const pid of withDescendants(stuck)) signalQuietly(pid, 'SIGKILL');
      await waitGone(stuck, 5000);
    }
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

  async #waitGoneOrThrow(pids: Iterable<number>, ms: number, what: string): Promise<void> {
    const stuck = await waitGone(pids, ms, { reapedWithinMs: 3000 });
    if (stuck.length > 0) throw new Error(`LocalCluster: ${what} still alive ${ms} ms after SIGKILL: ${stuck.join(', ')}`);
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
    const file = join(this.runDir, RUN_FILE);
    let prev: Record<string, unknown> = {};
    try {
      prev = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      // first write
    }
    const doc = {
      ...prev,
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
    };
    writeFileSync(`${file}.tmp`, JSON.stringify(doc, null, 2));
    renameSync(`${file}.tmp`, file);
  }
}
