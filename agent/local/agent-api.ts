// The harness's client for an agent's REST API: any call (with the generated basic-auth
// credentials on request), and GET /status.
import type { LocalCredentials } from './agent-config.js';
import type { AgentStatus, ApiResponse, LocalNode } from './cluster-types.js';

export interface AgentCallOptions {
  method?: string;
  body?: unknown;
  timeoutMs?: number;
  auth?: boolean;
}

/** Any REST call; mutating calls carry the generated basic-auth credentials unless auth: false. */
export async function callAgentApi(
  n: LocalNode, path: string, opts: AgentCallOptions, credentials: LocalCredentials['api'],
): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (opts.auth !== false) {
    headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
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

/** GET <apiUrl>/status (short timeout). Rejects when the agent does not answer in time. */
export async function agentStatus(n: LocalNode, timeoutMs: number, credentials: LocalCredentials['api']): Promise<AgentStatus> {
  const res = await callAgentApi(n, '/status', { timeoutMs, auth: false }, credentials);
  if (res.status !== 200 || typeof res.body !== 'object' || res.body === null) {
    throw new Error(`GET ${n.apiUrl}/status: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  }
  return res.body as AgentStatus;
}
