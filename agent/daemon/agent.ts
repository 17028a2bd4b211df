// Wires one agent together: config → adapters → HA loop + REST API, and stops it cleanly.
import type { AgentConfig } from '../config/types.js';
import { toHaSettings } from '../config/dynamic.js';
import { createLogger, setLogLevel, type Logger } from '../log.js';
import { systemClock, type Clock } from '../clock.js';
import { EtcdDcs } from '../dcs/etcd-dcs.js';
import { PostgresAdapter, osUserIds } from '../postgres/adapter.js';
import { buildApi, startApi } from '../api/server.js';
import { apiTlsFromConfig, readTlsFiles, reloadTls } from '../api/tls.js'; // [api-security]
import { AgentMetrics } from '../api/metrics.js';
import { peerStatusGetter, toPeerStatus } from '../api/peer-client.js';
import { PGWARDEN_VERSION } from '../version.js';
import { NO_TAGS, type HaSettings, type Tags } from '../core/types.js';
import { HaLoop } from '../runtime/ha-loop.js';
import { NodeStateStore, initialNodeState } from '../runtime/node-state.js';
import { shutDown } from '../runtime/shutdown.js';
import { prePromoteHook } from './pre-promote.js';
import { splitHostPort, type Identity } from '../runtime/member-record.js';
import { ensureNameFree } from '../runtime/name-guard.js';
import { createControl } from './control-impl.js';
import { FatalAgentError } from '../runtime/errors.js';
import { startGuard, WatchdogConfigError } from '../guard/index.js';
import type { FenceGuard } from '../ports/ports.js';
import { StartupAborted, StartupError, checkBinDir, listenOrExplain, oneLine, waitForEtcd } from './startup.js';


export function tagsOf(cfg: AgentConfig): Tags {
  return {
    ...NO_TAGS,
    nofailover: cfg.tags.nofailover,
    failoverPriority: cfg.tags.failover_priority,
    noloadbalance: cfg.tags.noloadbalance,
    nosync: cfg.tags.nosync,
  };
}

export interface RunningAgent {
  readonly logger: Logger;
  readonly metrics: AgentMetrics;
  /** Resolves when the agent stopped (after stop() or a fatal error). */
  readonly done: Promise<void>;
  stop(reason: string): Promise<void>;
  /**
   * Apply a re-read config file (SIGHUP): `log.level` takes effect at once; other changed keys
   * need a restart and are only named in a warning. Returns those key paths.
   */
  reload(next: AgentConfig): string[];
}

export interface StartOptions {
  /** Aborted by SIGTERM/SIGINT during start-up: the waits end and startAgent throws StartupAborted. */
  readonly signal?: AbortSignal | undefined;
  /** Tests: how long to wait for etcd at start-up (default ETCD_WAIT.deadlineMs). */
  readonly etcdWaitMs?: number | undefined;
}

export async function startAgent(cfg: AgentConfig, clock: Clock = systemClock, opts: StartOptions = {}): Promise<RunningAgent> {
  // A wrong bin_dir is a configuration error (exit 2), found before anything is touched.
  checkBinDir(cfg.postgresql.bin_dir, cfg.config_file);
  const logger = createLogger({ level: cfg.log.level, format: cfg.log.format }).child({ node: cfg.name, scope: cfg.scope });
  const settings = toHaSettings(cfg.bootstrap.dcs);
  // The settings in force: the bootstrap values until the HA loop reads the dynamic config.
  let inForce: () => HaSettings = () => settings;
  // Gauges read the snapshot at scrape time (the store exists by the time anyone scrapes).
  const metrics = new AgentMetrics({ scope: cfg.scope, name: cfg.name, clock, state: () => store.get() });
  const runAs = process.getuid?.() === 0 ? osUserIds('postgres') : undefined;
  const pg = new PostgresAdapter({ name: cfg.name, pg: cfg.postgresql, logger: logger.child({ component: 'postgres' }), clock, ...(runAs ? { runAs } : {}) });
  const dcs = new EtcdDcs({
    hosts: cfg.etcd.hosts,
    namespace: cfg.namespace,
    scope: cfg.scope,
    name: cfg.name,
    // Follows the dynamic config at runtime, like every other timing.
    retryTimeoutMs: () => inForce().retryTimeoutMs,
    clock,
    logger,
    ...(cfg.etcd.username && cfg.etcd.password ? { auth: { username: cfg.etcd.username, password: cfg.etcd.password } } : {}),
    ...(cfg.etcd.tls ? { tls: cfg.etcd.tls } : {}),
    onRequest: (op, seconds) => metrics.observeEtcd(op, seconds),
  });
  const apiTls = apiTlsFromConfig(cfg.restapi.tls); // [api-security]
  const apiUrl = `${apiTls ? 'https' : 'http'}://${cfg.restapi.connect_address}/`;
  // Peers are asked over https with our CA and our certificate as the client certificate (they
  // may require one); re-read on SIGHUP with the server's.
  let peerTls = apiTls ? readTlsFiles(apiTls) : undefined;
  const fetchPeerStatus = peerStatusGetter(() => peerTls, clock);
  const pgAddr = splitHostPort(cfg.postgresql.connect_address);
  const identity: Identity = { name: cfg.name, apiUrl, host: pgAddr.host, port: pgAddr.port, tags: tagsOf(cfg) };

  // etcd may come up after us (boot order, a slow cluster): wait for it with a bounded backoff
  // instead of exiting with a stack trace and being restarted in a loop.
  try {
    await waitForEtcd({
      probe: () => dcs.readCluster(), hosts: cfg.etcd.hosts, clock, logger, signal: opts.signal,
      ...(opts.etcdWaitMs !== undefined ? { deadlineMs: opts.etcdWaitMs } : {}),
    });
    await ensureNameFree({ name: cfg.name, ownApiUrl: apiUrl, dcs, fetchPeer: fetchPeerStatus, clock, logger, ttlMs: settings.ttlMs });
  } catch (err) {
    await dcs.close({ revokeLease: true }).catch(() => undefined);
    throw startupFailure(logger, err);
  }

  // The out-of-process fence guard (watchdog), running before the HA loop can make PostgreSQL writable.
  let guard: Awaited<ReturnType<typeof startGuard>> = null;
  try {
    guard = await startGuard(cfg, { clock, logger, ttlMs: () => inForce().ttlMs, postmasterPid: () => pg.postmasterPid });
  } catch (err) {
    await dcs.close({ revokeLease: true }).catch(() => undefined);
    throw startupFailure(logger, err instanceof WatchdogConfigError ? new StartupError(err.message, 2) : err);
  }
  const fenceGuard: FenceGuard | undefined = guard ?? undefined;

  const store = new NodeStateStore(initialNodeState({ name: cfg.name, scope: cfg.scope, version: PGWARDEN_VERSION, tags: identity.tags, settings }));
  const loop = new HaLoop({
    identity, scope: cfg.scope, dcs, pg, store, clock, logger,
    race: { fetchPeer: fetchPeerStatus, toPeerStatus },
    bootstrapConfig: cfg.bootstrap.dcs,
    toSettings: toHaSettings,
    metrics,
    ...(fenceGuard ? { guard: fenceGuard } : {}),
    ...(cfg.postgresql.pre_promote ? { prePromote: prePromoteHook(cfg.postgresql.pre_promote, { name: cfg.name, scope: cfg.scope, clock }) } : {}),
  });
  inForce = () => loop.settings;
  // What the mutating endpoints call (switchover, failover, restart, reinitialize, reload).
  const control = createControl({
    name: cfg.name, dcs, pg, loop, clock, logger, bootstrapConfig: cfg.bootstrap.dcs, fetchPeer: fetchPeerStatus,
  });
  // [api-security] Mutating endpoints: the control port behind auth + allowlist, over TLS when
  // restapi.tls is set (without restapi.auth they answer 403; without control, 503).
  const api = buildApi({
    store, clock, metrics, logger: logger.child({ component: 'api' }),
    auth: cfg.restapi.auth, allowlist: cfg.restapi.allowlist, tls: apiTls, control,
  });
  try {
    await listenOrExplain(() => startApi(api, cfg.restapi.listen), cfg.restapi.listen, { clock, logger, signal: opts.signal });
  } catch (err) {
    await api.close().catch(() => undefined);
    await dcs.close({ revokeLease: true }).catch(() => undefined);
    await guard?.close();
    throw startupFailure(logger, err);
  }
  logger.info({ listen: cfg.restapi.listen, api_url: apiUrl }, 'REST API listening');


  let stopping: Promise<void> | null = null;
  const stop = (reason: string): Promise<void> => {
    stopping ??= shutdown(reason);
    return stopping;
  };

  async function shutdown(reason: string): Promise<void> {
    await shutDown({ name: cfg.name, loop, dcs, pg, store, logger }, reason);
    await guard?.close();
    await api.close().catch(() => undefined);
  }

  const done = loop.run().catch(async (err: unknown) => {
    logger.fatal({ err: String(err) }, err instanceof Error ? err.message : String(err));
    await stop('fatal error');
    throw err;
  });

  let current = cfg;
  const reload = (next: AgentConfig): string[] => {
    const r = applyConfigReload(logger, current, next);
    current = r.applied;
    // [api-security] SIGHUP re-reads the REST API's certificate, key and CA (same paths).
    if (apiTls) {
      try {
        const nextTls = apiTlsFromConfig(next.restapi.tls) ?? apiTls;
        reloadTls(api, nextTls);
        peerTls = readTlsFiles(nextTls);
        logger.info('REST API TLS certificate reloaded');
      } catch (err) {
        logger.error({ err: String(err) }, 'REST API TLS certificate not reloaded; keeping the one in use');
      }
    }
    return r.restartNeeded;
  };

  return { logger, metrics, done, stop, reload };
}

/**
 * Log a start-up failure once (structured, no stack for an expected condition) and return the
 * error the CLI reports in one line: StartupError/FatalAgentError/StartupAborted as they are,
 * anything else (etcd failing half-way through the name check…) as a StartupError.
 */
function startupFailure(logger: Logger, err: unknown): Error {
  if (err instanceof StartupAborted) {
    logger.info('start-up interrupted by a signal; nothing was started');
    return err;
  }
  const known = err instanceof StartupError || err instanceof FatalAgentError;
  const out = known ? err : new StartupError(`start-up failed: ${oneLine(err)}`);
  logger.fatal({ err: oneLine(err) }, out.message);
  return out;
}

/**
 * Apply a re-read config to a running agent's logger tree: `log.level` at once; every other
 * changed key (named, never its value) needs a restart. Returns the config now in force.
 */
export function applyConfigReload(
  logger: Logger, current: AgentConfig, next: AgentConfig,
): { applied: AgentConfig; restartNeeded: string[] } {
  const restartNeeded = changedKeys(current, next).filter((k) => k !== 'log.level' && k !== 'config_file');
  if (next.log.level !== current.log.level) {
    const previous = setLogLevel(logger, next.log.level);
    logger.warn({ previous, level: next.log.level }, `log level is now ${next.log.level}`);
  }
  if (restartNeeded.length > 0) {
    logger.warn({ keys: restartNeeded }, `config reloaded; these changes take effect at the next restart: ${restartNeeded.join(', ')}`);
  } else {
    logger.info('config reloaded');
  }
  return { applied: { ...current, log: { ...current.log, level: next.log.level } }, restartNeeded };
}

/** Dotted paths of the leaves that differ between two configs (names only: values may be secrets). */
export function changedKeys(a: unknown, b: unknown, path = ''): string[] {
  if (Object.is(a, b)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedKeys(a[k], b[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => changedKeys(v, b[i]).length === 0)) return [];
  return [path];
}
