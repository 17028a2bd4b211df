// ctl's client for the agents' REST APIs: node:http(s) with a hard deadline per request, the CA
// and client certificate from the ctl config, and credentials on mutating requests only.
import { readFileSync } from 'node:fs';
import { ApiUnreachable, httpRequestJson, joinUrl, type HttpAnswer } from '../http/request.js';
import type { CtlConfig } from './config.js';
import { CtlUsageError } from './io.js';

export type ApiResponse = HttpAnswer;
export { ApiUnreachable, joinUrl };

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
    const headers: Record<string, string> = { ...opts.headers };
    if (withAuth && this.#authHeader !== null) headers.authorization = this.#authHeader;
    return httpRequestJson(joinUrl(apiUrl, path), { method, headers, timeoutMs: opts.timeoutMs, body: opts.body, tls: this.#tls });
  }
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
