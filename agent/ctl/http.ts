// ctl's client for the agents' REST APIs: node:http(s) with a hard deadline per request, the CA
// and client certificate from the ctl config, and credentials on mutating requests only.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { CtlConfig } from './config.js';
import { CtlUsageError } from './io.js';

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON, or the text when it is not JSON. */
  readonly body: unknown;
}

/** The agent did not answer (refused, reset, timed out, TLS failure). */
export class ApiUnreachable extends Error {
  override readonly name = 'ApiUnreachable';
}

export interface ApiCallOptions {
  readonly body?: unknown;
  readonly timeoutMs: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/** What commands need to call agents (a fake in unit tests). */
export interface AgentApi {
  /** GET without credentials. */
  get(apiUrl: string, path: string, timeoutMs: number): Promise<ApiResponse>;
  /** A mutating call with the configured credentials. */
  send(apiUrl: string, method: 'POST' | 'PATCH' | 'DELETE', path: string, opts: ApiCallOptions): Promise<ApiResponse>;
}

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export class HttpAgentApi implements AgentApi {
  readonly #authHeader: string | null;
  readonly #tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };

  constructor(cfg: Pick<CtlConfig, 'auth' | 'tls'>) {
    const a = cfg.auth;
    this.#authHeader = a?.username !== undefined && a.password !== undefined
      ? `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`
      : a?.token !== undefined ? `Bearer ${a.token}` : null;
    const read = (path: string | undefined, what: string): Buffer | undefined => {
      if (path === undefined) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new CtlUsageError(`restapi.tls.${what}: cannot read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    };
    const ca = read(cfg.tls?.ca, 'ca');
    const cert = read(cfg.tls?.cert, 'cert');
    const key = read(cfg.tls?.key, 'key');
    this.#tls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }

  get hasCredentials(): boolean {
    return this.#authHeader !== null;
  }

  get(apiUrl: string, path: string, timeoutMs: number): Promise<ApiResponse> {
    return this.#request(apiUrl, 'GET', path, { timeoutMs }, false);
  }

  send(apiUrl: string, method: 'POST' | 'PATCH' | 'DELETE', path: string, opts: ApiCallOptions): Promise<ApiResponse> {
    return this.#request(apiUrl, method, path, opts, true);
  }

  #request(apiUrl: string, method: string, path: string, opts: ApiCallOptions, withAuth: boolean): Promise<ApiResponse> {
    const url = joinUrl(apiUrl, path);
    const secure = url.protocol === 'https:';
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (withAuth && this.#authHeader !== null) headers.authorization = this.#authHeader;
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    return new Promise<ApiResponse>((resolve, reject) => {
      const fail = (err: Error): void => reject(new ApiUnreachable(`${method} ${url.href}: ${describeNetError(err, opts.timeoutMs)}`));
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text === '' ? null : JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      };
      const options = { method, headers, ...(secure ? this.#tls : {}) };
      const req = secure ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
      const timer = setTimeout(() => req.destroy(new TimeoutError()), opts.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        fail(err);
      });
      req.end(payload);
    });
  }
}

class TimeoutError extends Error {}

function describeNetError(err: Error, timeoutMs: number): string {
  if (err instanceof TimeoutError) return `no answer within ${timeoutMs / 1000} s`;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused (is the agent running?)';
  return code ? `${code}: ${err.message}` : err.message;
}

/** "http://h:8008/" + "/status" → http://h:8008/status */
export function joinUrl(apiUrl: string, path: string): URL {
  return new URL(`${apiUrl.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`);
}

/** The one-line message of an API answer: `message`, or `error.message`, or the text. */
export function messageOf(res: ApiResponse): string {
  const b = res.body;
  if (b !== null && typeof b === 'object') {
    const o = b as { message?: unknown; error?: { message?: unknown } };
    if (typeof o.message === 'string') return o.message;
    if (typeof o.error?.message === 'string') return o.error.message;
  }
  if (typeof b === 'string' && b.trim() !== '') return b.trim().slice(0, 500);
  return `HTTP ${res.status}`;
}
