// The mutating REST endpoints (SPEC §1.2): PATCH /config, POST|DELETE /switchover, POST /failover,
// /restart, /reinitialize, /reload, /pause, /resume. A fastify plugin registered by buildApi in
// its own encapsulated scope, so its guard hook, body parser and error handler touch these routes
// only; the health paths stay open and fast.
//
// Order of checks on every request (before the body is read):
//   1. allowlist (restapi.allowlist)            → 403
//   2. restapi.auth configured at all           → 403 "mutating API disabled: configure restapi.auth"
//   3. credentials (basic or bearer, const time) → 401 + WWW-Authenticate
//   4. content type when there is a body         → 415
// then fastify reads the body (over the limit → 413; bad JSON → 400), the handler validates it
// (zod: unknown fields, wrong types, missing fields → 400) and calls the runtime's ControlPort.
// Every answer is JSON `{message, ...details}`; bad input never produces a 500.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { withDeadline, type Clock } from '../clock.js';
import { mergeDynamicPatch } from '../config/dynamic.js';
import { redactConfig } from '../config/redact.js';
import type { ControlPort, ControlResult } from '../runtime/control.js';
import { scheduledAtProblem } from '../http/scheduled-at.js';
import { authChallenges, authConfigured, checkAuthorization, compileAllowlist, type ApiAuth } from './auth.js';

export interface ControlRoutesOptions {
  /**
   * The runtime's operations, or a function giving them (for a port made after the API starts);
   * absent → every mutating endpoint answers 503 "not available".
   */
  readonly control?: ControlPort | (() => ControlPort | undefined) | undefined;
  /** restapi.auth; absent (or incomplete) → every mutating endpoint answers 403. */
  readonly auth?: ApiAuth | undefined;
  /** restapi.allowlist: when given, only these addresses / CIDRs may call mutating endpoints. */
  readonly allowlist?: readonly string[] | undefined;
  readonly clock: Clock;
  /** Largest accepted body in bytes (default 64 KiB). */
  readonly bodyLimit?: number;
  /** How long a ControlPort call may take before the API answers 503 (default 120 s). */
  readonly operationTimeoutMs?: number;
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;
export const DEFAULT_OPERATION_TIMEOUT_MS = 120_000;

/** What a mutating endpoint answers: a status and `{message, ...details}`. */
export interface Answer {
  readonly status: number;
  readonly body: { readonly message: string } & Readonly<Record<string, unknown>>;
}

const JSON_TYPES = new Set(['application/json', 'application/merge-patch+json']);

declare module 'fastify' {
  interface FastifyRequest {
    /** Who passed the credential check of a mutating endpoint (username, or "(token)"). */
    pgwardenUser?: string;
  }
}

// ---------------------------------------------------------------------------------------------
// Request bodies

const memberName = z.string({ error: 'must be a member name (a string)' })
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' })
  .refine((s) => !s.includes('/') && s.trim() === s, { error: 'must be a member name without "/" or surrounding spaces' });

const switchoverBody = z.strictObject({
  leader: memberName,
  candidate: memberName.optional(),
  scheduled_at: z.string({ error: 'must be an ISO-8601 time with a time zone (a string)' }).optional(),
});

const failoverBody = z.strictObject({ candidate: memberName });

const noFields = z.strictObject({});

/** zod issues → one line per problem, naming the field. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    const at = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${at ? `${at}.` : ''}${k}: unknown field`);
    if (issue.code === 'invalid_type' && issue.expected === 'object') return [`${at || 'body'}: must be a JSON object`];
    if (issue.code === 'invalid_type' && issue.input === undefined) return [`${at}: is required`];
    return [`${at || 'body'}: ${issue.message}`];
  });
}

type Parsed<T> = { ok: true; value: T } | { ok: false; answer: Answer };

function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): Parsed<T> {
  const r = schema.safeParse(body, { reportInput: true });
  if (r.success) return { ok: true, value: r.data };
  const errors = describeIssues(r.error.issues);
  return { ok: false, answer: bad(`malformed ${what} request: ${errors.join('; ')}`, { errors }) };
}

function bad(message: string, details: Record<string, unknown> = {}): Answer {
  return { status: 400, body: { message, code: 'BAD_REQUEST', ...details } };
}

function fromResult(r: ControlResult): Answer {
  return { status: r.status, body: { ...r.details, message: r.message } };
}

// ---------------------------------------------------------------------------------------------
// The plugin

export const controlRoutes: FastifyPluginAsync<ControlRoutesOptions> = async (scope, opts) => {
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const timeoutMs = opts.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  const allowed = opts.allowlist && opts.allowlist.length > 0 ? compileAllowlist(opts.allowlist) : null;
  const auth = opts.auth;
  const getControl = typeof opts.control === 'function' ? opts.control : () => opts.control as ControlPort | undefined;

  // Only JSON bodies (text/plain and any other type → 415), parsed with fastify's safe parser.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser([...JSON_TYPES], { parseAs: 'string', bodyLimit }, scope.getDefaultJsonParser('error', 'error'));

  scope.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      req.log.info({ statusCode: status, code: err.code }, `mutating request refused: ${err.message}`);
      void reply.code(status).send({ message: err.message, code: err.code ?? 'BAD_REQUEST' });
      return;
    }
    req.log.error({ err }, 'unexpected error in a mutating endpoint');
    void reply.code(500).send({ message: 'internal error', code: 'INTERNAL' });
  });

  scope.decorateRequest('pgwardenUser', '');
  scope.addHook('onRequest', async (req, reply) => {
    const deny = (status: number, message: string, code: string): FastifyReply => {
      req.log.warn({ remoteAddress: req.ip, method: req.method, url: req.url, statusCode: status }, message);
      return reply.code(status).send({ message, code });
    };
    if (allowed !== null && !allowed(req.socket.remoteAddress ?? req.ip)) {
      return deny(403, `access denied: ${req.ip} is not in restapi.allowlist`, 'NOT_ALLOWED');
    }
    if (!authConfigured(auth)) {
      return deny(403, 'mutating API disabled: configure restapi.auth', 'MUTATING_API_DISABLED');
    }
    const outcome = checkAuthorization(req.headers.authorization, auth);
    if (!outcome.ok) {
      reply.header('www-authenticate', authChallenges(auth));
      return deny(401, outcome.reason === 'missing' ? 'authentication required' : 'not authenticated', 'UNAUTHORIZED');
    }
    req.pgwardenUser = outcome.user;
    if (hasBody(req)) {
      const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
      if (!JSON_TYPES.has(type)) {
        return deny(415, `unsupported content type ${JSON.stringify(type || '(none)')}: send application/json`, 'UNSUPPORTED_MEDIA_TYPE');
      }
    }
    return undefined;
  });

  /** Run one operation: log who asked and the outcome; exceptions and timeouts → 503. */
  const run = async (req: FastifyRequest, reply: FastifyReply, op: string, fn: (control: ControlPort) => Promise<Answer>): Promise<void> => {
    const control = getControl();
    let answer: Answer;
    if (control === undefined) {
      answer = { status: 503, body: { message: `${op} not available: this agent has no control port yet`, code: 'NOT_AVAILABLE' } };
    } else {
      try {
        answer = await withDeadline(opts.clock, fn(control), timeoutMs,
          () => new OperationTimeout(`no answer within ${Math.round(timeoutMs / 1000)} s; it may still complete`));
      } catch (err) {
        req.log.error({ err: String(err), op }, `${op} failed`);
        const code = err instanceof OperationTimeout ? 'TIMEOUT' : 'FAILED';
        answer = { status: 503, body: { message: `${op} failed: ${err instanceof Error ? err.message : String(err)}`, code } };
      }
    }
    const level = answer.status < 400 ? 'info' : 'warn';
    req.log[level]({ op, user: req.pgwardenUser, statusCode: answer.status }, `${op}: ${answer.body.message}`);
    await reply.code(answer.status).send(answer.body);
  };

  const route = (method: 'POST' | 'PATCH' | 'DELETE', url: string, op: string, handler: (req: FastifyRequest, control: ControlPort) => Promise<Answer>): void => {
    scope.route({
      method, url, bodyLimit,
      handler: (req, reply) => run(req, reply, op, (control) => handler(req, control)),
    });
  };

  /** A body-less operation: no body, or `{}`. */
  const simple = (url: string, op: string, call: (control: ControlPort) => Promise<ControlResult>): void => {
    route('POST', url, op, async (req, control) => {
      const p = parseBody(noFields, req.body ?? {}, op);
      if (!p.ok) return p.answer;
      return fromResult(await call(control));
    });
  };

  route('PATCH', '/config', 'config update', async (req, control) => {
    if (req.body === undefined) return bad('PATCH /config needs a JSON object body (a merge patch; null deletes a key)');
    const expected = parseIfMatch(req.headers['if-match']);
    if (expected === 'invalid') return bad('If-Match must be the config revision, a decimal number such as "42"');
    return patchConfig(control, req.body, expected);
  });

  route('POST', '/switchover', 'switchover', async (req, control) => {
    const p = parseBody(switchoverBody, req.body, 'switchover');
    if (!p.ok) return p.answer;
    const { leader, candidate, scheduled_at: scheduledAt } = p.value;
    if (candidate !== undefined && candidate === leader) return bad('switchover target and source are the same');
    if (scheduledAt !== undefined) {
      const problem = scheduledAtProblem(scheduledAt, opts.clock.wallNow());
      if (problem) return bad(problem);
    }
    return fromResult(await control.switchover({
      leader,
      ...(candidate !== undefined ? { candidate } : {}),
      ...(scheduledAt !== undefined ? { scheduledAt } : {}),
    }));
  });

  route('DELETE', '/switchover', 'switchover cancel', async (req, control) => {
    const p = parseBody(noFields, req.body ?? {}, 'cancel switchover');
    if (!p.ok) return p.answer;
    return fromResult(await control.cancelSwitchover());
  });

  route('POST', '/failover', 'failover', async (req, control) => {
    const p = parseBody(failoverBody, req.body, 'failover');
    if (!p.ok) return p.answer;
    return fromResult(await control.failover({ candidate: p.value.candidate }));
  });

  simple('/restart', 'restart', (c) => c.restart());
  simple('/reinitialize', 'reinitialize', (c) => c.reinitialize());
  simple('/reload', 'reload', (c) => c.reload());

  for (const [url, pause] of [['/pause', true], ['/resume', false]] as const) {
    route('POST', url, pause ? 'pause' : 'resume', async (req, control) => {
      const p = parseBody(noFields, req.body ?? {}, url.slice(1));
      if (!p.ok) return p.answer;
      const { config } = await control.readConfig();
      if (config.pause === pause) {
        return { status: 200, body: { message: pause ? 'cluster is already paused' : 'cluster is not paused', pause } };
      }
      const answer = await patchConfig(control, { pause }, undefined);
      if (answer.status !== 200) return answer;
      return { status: 200, body: { message: pause ? 'cluster paused: no automatic failover until resumed' : 'cluster resumed: automatic failover is on', pause } };
    });
  }
};

/**
 * PATCH /config: merge the patch over the config in etcd, validate the result, then write it
 * with a compare-and-swap on the revision that was read. `expectedRevision` (If-Match) makes the
 * caller's own read part of the CAS: a config that changed since then is a 409 too.
 */
export async function patchConfig(control: ControlPort, patch: unknown, expectedRevision: number | undefined): Promise<Answer> {
  const { config, revision } = await control.readConfig();
  if (expectedRevision !== undefined && expectedRevision !== revision) {
    return {
      status: 409,
      body: { message: `the config changed since revision ${expectedRevision} (now ${revision}); read it again and retry`, code: 'CONFLICT', revision },
    };
  }
  const merged = mergeDynamicPatch(config, patch, 'PATCH /config');
  if (!merged.ok) return bad(`invalid config: ${merged.errors.join('; ')}`, { errors: merged.errors });
  const written = await control.writeConfig(merged.config, revision);
  if (!written) {
    return {
      status: 409,
      body: { message: `the config was changed by someone else meanwhile (revision ${revision} is gone); read it again and retry`, code: 'CONFLICT' },
    };
  }
  return { status: 200, body: { message: 'config updated', config: redactConfig(merged.config) } };
}

/** `If-Match: "42"` (or 42, W/"42") → 42; absent → undefined. */
export function parseIfMatch(header: string | string[] | undefined): number | undefined | 'invalid' {
  if (header === undefined) return undefined;
  const raw = Array.isArray(header) ? header.join(',') : header;
  const m = /^\s*(?:W\/)?"?(\d{1,16})"?\s*$/.exec(raw);
  return m ? Number(m[1]) : 'invalid';
}

function hasBody(req: FastifyRequest): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** The operation outlived the API's patience; it may still complete in the runtime. */
class OperationTimeout extends Error {}

/** Register the mutating endpoints on `app` (see buildApi). */
export function registerControlRoutes(app: FastifyInstance, opts: ControlRoutesOptions): void {
  void app.register(controlRoutes, opts);
}
