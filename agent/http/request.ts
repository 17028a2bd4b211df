// One HTTP(S) request to an agent's REST API, with a hard deadline, a cap on the answer's size and
// optional TLS material (CA to trust, client certificate and key). Used by `pgwarden ctl` and by
// the agent itself when it asks a peer for its status (leader race, name guard).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { systemClock, type Clock } from '../clock.js';

export interface HttpAnswer {
  readonly status: number;
  /** Parsed JSON, or the text when it is not JSON (null when empty). */
  readonly body: unknown;
}

/** The agent did not answer (refused, reset, timed out, TLS failure, answer too large). */
export class ApiUnreachable extends Error {
  override readonly name = 'ApiUnreachable';
}

export interface HttpRequestOptions {
  readonly method: string;
  readonly timeoutMs: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** For https URLs: trusted CA, client certificate and key. */
  readonly tls?: Pick<SecureContextOptions, 'ca' | 'cert' | 'key'>;
  /** Sets the deadline timer. Default systemClock. */
  readonly clock?: Pick<Clock, 'setTimer'>;
}

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

class TimeoutError extends Error {}

function describeNetError(err: Error, timeoutMs: number): string {
  if (err instanceof TimeoutError) return `no answer within ${timeoutMs / 1000} s`;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused (is the agent running?)';
  return code ? `${code}: ${err.message}` : err.message;
}

/** Resolves with any HTTP answer; rejects with ApiUnreachable when there is none in time. */
export function httpRequestJson(url: URL, opts: HttpRequestOptions): Promise<HttpAnswer> {
  const secure = url.protocol === 'https:';
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  return new Promise<HttpAnswer>((resolve, reject) => {
    const fail = (err: Error): void => {
      timer.cancel();
      reject(new ApiUnreachable(`${opts.method} ${url.href}: ${describeNetError(err, opts.timeoutMs)}`));
    };
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
        timer.cancel();
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
    const options = { method: opts.method, headers, ...(secure && opts.tls ? opts.tls : {}) };
    const req = secure ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
    const timer = (opts.clock ?? systemClock).setTimer(opts.timeoutMs, () => req.destroy(new TimeoutError()));
    req.on('error', fail);
    req.end(payload);
  });
}

/** "http://h:8008/" + "/status" → http://h:8008/status */
export function joinUrl(apiUrl: string, path: string): URL {
  return new URL(`${apiUrl.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`);
}
