// The REST API's read side (SPEC §1): health paths, /status, /cluster, /history, /config, /metrics.
// An app factory (no listen) so tests drive it with inject(); startApi binds it.
//
// Health probes arrive many times a second from every HAProxy: their handlers are synchronous,
// read the in-memory snapshot, reuse one serialized status document per snapshot, and log at
// debug only.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { NodeState, NodeStateStore } from '../runtime/node-state.js';
import { HEALTH_PATHS, LAG_PATTERN, healthCheck, invalidParameterMessage, type HealthPath, type HealthQuery } from './health.js';
import { redactConfig } from '../config/redact.js';
import { AgentMetrics } from './metrics.js';
import { buildClusterDoc, buildHistoryDoc, buildStatusDoc } from './status-doc.js';
import type { ControlPort } from '../runtime/control.js';
import type { ApiAuth } from './auth.js';
import { registerControlRoutes } from './control-routes.js';
import { httpsOptions, type ApiTls } from './tls.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A polled read-only route (health checks, /status): request log lines at debug level only. */
    health?: boolean;
  }
}

export interface ApiDeps {
  readonly store: NodeStateStore;
  readonly clock: Clock;
  /** Used as fastify's logger as is (give it a `component: 'api'` child). */
  readonly logger: Logger;
  /** Served at GET /metrics; without it the API makes its own (node gauges only, no process metrics). */
  readonly metrics?: AgentMetrics;
  // The mutating endpoints (control-routes.ts) and transport security (tls.ts, auth.ts).
  /** The runtime's operations (or a getter); absent → mutating endpoints answer 503 "not available". */
  readonly control?: ControlPort | (() => ControlPort | undefined) | undefined;
  /** restapi.auth; absent → mutating endpoints answer 403 (disabled). */
  readonly auth?: ApiAuth | undefined;
  /** restapi.allowlist: addresses / CIDRs allowed to call mutating endpoints. */
  readonly allowlist?: readonly string[] | undefined;
  /** restapi.tls: serve HTTPS (files are read when the app is built; see reloadTls). */
  readonly tls?: ApiTls | undefined;
  /** Socket limits (tests shorten them); default API_SOCKET_LIMITS. */
  readonly limits?: Partial<ApiSocketLimits> | undefined;
}

/** Every error the read API answers with, and its HTTP status. */
export const API_ERRORS = {
  INVALID_PARAMETER: 400,
  NOT_FOUND: 404,
  /** No cluster view has been read from etcd yet. */
  NO_CLUSTER_VIEW: 503,
  INTERNAL: 500,
} as const;
export type ApiErrorCode = keyof typeof API_ERRORS;

export interface ApiErrorBody {
  readonly error: { readonly code: ApiErrorCode | string; readonly message: string; readonly parameter?: string };
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Socket limits of the REST API (issue 11, item 9). Node's and fastify's defaults let a client
 * hold a connection for minutes (fastify keeps an idle keep-alive socket 72 s; Node checks
 * header/request deadlines only every 30 s). The API answers health checks from memory in well
 * under a millisecond, and HAProxy checks every 500 ms with `timeout check 1s`, opening a new
 * connection for each check, so these bounds are generous for a real client and short for a
 * slow or stuck one. docs/security.md ("REST API connection limits") lists them.
 */
export const API_SOCKET_LIMITS = {
  /** The request line and headers must arrive within this (slowloris: partial headers). */
  headersTimeoutMs: 5_000,
  /** The whole request, body included (bodies are small: 64 KiB at most on the read side). */
  requestTimeoutMs: 10_000,
  /** How often Node enforces the two deadlines above (its default is 30 s). */
  connectionsCheckingIntervalMs: 500,
  /** An idle keep-alive socket is closed after this; announced in `Keep-Alive: timeout=5`. */
  keepAliveTimeoutMs: 5_000,
  /** After this many requests on one socket, the answer says `Connection: close`. */
  maxRequestsPerSocket: 10_000,
  /**
   * Inactivity backstop for any socket: longer than the longest mutating operation
   * (DEFAULT_OPERATION_TIMEOUT_MS, 120 s), during which the socket is legitimately silent.
   */
  connectionTimeoutMs: 130_000,
  /** Open sockets at most; further connections are closed at once until some end. */
  maxConnections: 512,
} as const;
export type ApiSocketLimits = { -readonly [K in keyof typeof API_SOCKET_LIMITS]: number };

/** HEAD and OPTIONS (HAProxy's httpchk) get the status line only. */
function statusOnly(req: FastifyRequest): boolean {
  return req.method === 'HEAD' || req.method === 'OPTIONS';
}

function sendError(
  req: FastifyRequest, reply: FastifyReply, code: ApiErrorCode, message: string, parameter?: string,
): void {
  reply.code(API_ERRORS[code]);
  if (statusOnly(req)) {
    reply.send();
    return;
  }
  const body: ApiErrorBody = { error: { code, message, ...(parameter !== undefined ? { parameter } : {}) } };
  reply.send(body);
}

/** Request lines for health routes go to debug; everything else keeps fastify's defaults. */
class ApiLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (request.routeOptions.config.health === true) return;
    super.incomingRequest(request, reply, metadata);
  }

  override requestCompleted(
    error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>,
  ): void {
    if (request.routeOptions.config.health !== true) {
      super.requestCompleted(error, request, reply, metadata);
      return;
    }
    const level = reply.log.level;
    if (level === 'debug' || level === 'trace') {
      reply.log.debug({ method: request.method, url: request.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime }, 'health check');
    }
  }
}

const healthQuerySchema = {
  type: 'object',
  properties: {
    lag: { type: 'string', pattern: LAG_PATTERN.source },
  },
  patternProperties: {
    '^tag_': { type: 'string' },
  },
} as const;

/** The parameter a schema validation error is about (`/lag` → `lag`). */
function parameterOf(validation: readonly { instancePath?: string; params?: Record<string, unknown> }[]): string {
  const first = validation[0];
  const fromPath = first?.instancePath?.replace(/^\//, '');
  if (fromPath) return fromPath;
  const missing = first?.params?.['missingProperty'];
  return typeof missing === 'string' ? missing : 'querystring';
}

export function buildApi(deps: ApiDeps): FastifyInstance {
  const { store, clock } = deps;
  const initial = store.get();
  const metrics = deps.metrics
    ?? new AgentMetrics({ scope: initial.scope, name: initial.name, state: () => store.get(), clock, processMetrics: false });
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const limits: ApiSocketLimits = { ...API_SOCKET_LIMITS, ...deps.limits };
  const app = Fastify({
    loggerInstance,
    logController: new ApiLogController(),
    exposeHeadRoutes: false,
    routerOptions: { ignoreTrailingSlash: true },
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    // An https.Server in place of the http one: same request API; typed as the default server.
    ...(deps.tls ? { https: httpsOptions(deps.tls) } : {}),
  }) as FastifyInstance;
  applySocketLimits(app.server, limits);

  // One serialized status document per snapshot: probes between two HA cycles reuse it.
  let cachedFor: NodeState | null = null;
  let cachedJson = '';
  const statusJson = (state: NodeState): string => {
    if (state !== cachedFor) {
      cachedJson = JSON.stringify(buildStatusDoc(state));
      cachedFor = state;
    }
    return cachedJson;
  };

  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number; code?: string }, req, reply) => {
    if (Array.isArray(err.validation)) {
      const parameter = parameterOf(err.validation as { instancePath?: string; params?: Record<string, unknown> }[]);
      sendError(req, reply, 'INVALID_PARAMETER', invalidParameterMessage(parameter), parameter);
      return;
    }
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      reply.code(status);
      if (statusOnly(req)) reply.send();
      else reply.send({ error: { code: err.code ?? 'BAD_REQUEST', message: err.message } });
      return;
    }
    req.log.error({ err }, 'unexpected error in API handler');
    sendError(req, reply, 'INTERNAL', 'internal error');
  });

  // The read side takes no body. A health check that sends one anyway (some checkers add a
  // Content-Type to OPTIONS) is answered, not refused with 415: the body is read and dropped.
  // The control routes keep their own strict JSON-only parsers (control-routes.ts).
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, _body, done) => done(null, undefined));

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?', 1)[0] ?? req.url;
    sendError(req, reply, 'NOT_FOUND', `no such endpoint: ${req.method} ${path}`);
  });

  for (const path of HEALTH_PATHS) {
    app.route<{ Querystring: HealthQuery }>({
      method: ['GET', 'HEAD', 'OPTIONS'],
      url: path,
      schema: { querystring: healthQuerySchema },
      config: { health: true },
      handler: healthHandler(path),
    });
  }

  function healthHandler(path: HealthPath) {
    return (req: FastifyRequest<{ Querystring: HealthQuery }>, reply: FastifyReply): void => {
      const state = store.get();
      const result = healthCheck(path, req.query, state, clock.now());
      if (result.error) {
        sendError(req, reply, 'INVALID_PARAMETER', result.error.message, result.error.parameter);
        return;
      }
      reply.code(result.status);
      if (statusOnly(req)) reply.send();
      else reply.type(JSON_TYPE).send(statusJson(state));
    };
  }

  for (const path of ['/status', '/patroni']) {
    app.route({
      method: ['GET', 'HEAD', 'OPTIONS'],
      url: path,
      // Polled by monitoring and by peers during a leader race: as quiet as a health check.
      config: { health: true },
      handler: (req, reply) => {
        reply.code(200);
        if (statusOnly(req)) reply.send();
        else reply.type(JSON_TYPE).send(statusJson(store.get()));
      },
    });
  }

  // Documents built from the cluster view: 503 until one has been read from etcd.
  for (const [url, build] of [['/cluster', buildClusterDoc], ['/history', buildHistoryDoc]] as const) {
    app.route({
      method: ['GET', 'HEAD'],
      url,
      handler: (req, reply) => {
        const doc = build(store.get());
        if (doc === null) return sendError(req, reply, 'NO_CLUSTER_VIEW', 'no cluster view read from etcd yet');
        reply.code(200);
        if (statusOnly(req)) reply.send();
        else reply.send(doc);
      },
    });
  }

  app.route({
    method: ['GET', 'HEAD'],
    url: '/config',
    handler: (req, reply) => {
      const config = store.get().dynamicConfig;
      if (config === null) return sendError(req, reply, 'NO_CLUSTER_VIEW', 'no cluster view read from etcd yet');
      reply.code(200);
      if (statusOnly(req)) reply.send();
      else reply.send(redactConfig(config));
    },
  });

  app.route({
    method: 'GET',
    url: '/metrics',
    // Scraped every few seconds: as quiet as a health check.
    config: { health: true },
    handler: async (_req, reply) => {
      const text = await metrics.scrape();
      reply.code(200).type(metrics.contentType).send(text);
    },
  });

  registerControlRoutes(app, { control: deps.control, auth: deps.auth, allowlist: deps.allowlist, clock });

  return app;
}

/**
 * The limits fastify has no option for. Both are read when the server starts listening, so
 * setting them on the constructed server (http or https) is enough.
 */
function applySocketLimits(server: FastifyInstance['server'], limits: ApiSocketLimits): void {
  const s = server as FastifyInstance['server'] & { headersTimeout: number; connectionsCheckingInterval: number; maxConnections: number };
  s.headersTimeout = limits.headersTimeoutMs;
  s.connectionsCheckingInterval = limits.connectionsCheckingIntervalMs;
  s.maxConnections = limits.maxConnections;
}

/** Split 'host:port' (IPv6 as '[::1]:8008'). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`restapi listen address must be host:port, got ${JSON.stringify(listen)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Bind the app to 'host:port'; resolves with the address it listens on. */
export async function startApi(app: FastifyInstance, listen: string): Promise<string> {
  const { host, port } = parseListen(listen);
  return app.listen({ host, port });
}
