// Fakes for ctl commands run in-process: an etcd holding one ClusterRead, agents answering from
// scripted handlers, and I/O that captures output and runs time forward instead of sleeping.
import { PassThrough } from 'node:stream';
import { DEFAULT_DYNAMIC_CONFIG, type DynamicConfig } from '../../../agent/config/types.js';
import type { ClusterView, MemberRecord } from '../../../agent/core/types.js';
import type { ClusterRead, ClusterSource } from '../../../agent/ctl/etcd.js';
import type { AgentApi, ApiCallOptions, ApiResponse } from '../../../agent/ctl/http.js';
import { ApiUnreachable } from '../../../agent/ctl/http.js';
import type { CtlIo } from '../../../agent/ctl/io.js';
import { runCtl } from '../../../agent/ctl/index.js';
import { clusterView, member, OPTIME } from '../api/builders.js';

export { member, OPTIME };

/** node-a leads, node-b and node-c replicate (node-c 2 MB behind). */
export function threeNodes(patch: Partial<ClusterView> = {}): ClusterView {
  return clusterView({
    members: [
      member('node-a', { role: 'primary', walLsn: OPTIME, receivedLsn: null, replayedLsn: null }),
      member('node-b'),
      member('node-c', { receivedLsn: OPTIME - 2 * 1048576, replayedLsn: OPTIME - 2 * 1048576, tags: { nofailover: true, failoverPriority: 1, noloadbalance: false, nosync: false } }),
    ],
    ...patch,
  });
}

export function clusterRead(view: ClusterView = threeNodes(), config: DynamicConfig | null = DEFAULT_DYNAMIC_CONFIG, configRevision = 41): ClusterRead {
  return { scope: 'demo', view, config, configRevision, keyCount: 5 + view.members.length };
}

export class FakeEtcd implements ClusterSource {
  removed = 0;
  closed = false;
  constructor(public state: ClusterRead = clusterRead()) {}
  async read(): Promise<ClusterRead> {
    return structuredClone(this.state);
  }
  async removeAll(): Promise<number> {
    this.removed = this.state.keyCount;
    this.state = { ...this.state, keyCount: 0 };
    return this.removed;
  }
  close(): void {
    this.closed = true;
  }
  setLeader(name: string | null): void {
    this.state = { ...this.state, view: { ...this.state.view, leader: name } };
  }
  setMember(name: string, patch: Partial<MemberRecord>): void {
    this.state = {
      ...this.state,
      view: { ...this.state.view, members: this.state.view.members.map((m) => (m.name === name ? { ...m, ...patch } : m)) },
    };
  }
}

export interface SentCall {
  member: string;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

type Handler = (call: SentCall) => ApiResponse | Promise<ApiResponse>;

/** Agents keyed by member name (their apiUrl comes from the member record). */
export class FakeApi implements AgentApi {
  readonly sent: SentCall[] = [];
  /** GET /status documents by member; missing → the agent does not answer. */
  status = new Map<string, Record<string, unknown>>();
  /** "METHOD /path" → handler; default answers 200 {message: 'ok'}. */
  handlers = new Map<string, Handler>();
  down = new Set<string>();

  constructor(private readonly etcd: FakeEtcd) {}

  #name(apiUrl: string): string {
    const m = this.etcd.state.view.members.find((x) => x.apiUrl === apiUrl);
    if (!m) throw new Error(`no member has api_url ${apiUrl}`);
    return m.name;
  }

  async get(apiUrl: string, path: string, _timeoutMs?: number): Promise<ApiResponse> {
    const name = this.#name(apiUrl);
    const doc = this.status.get(name);
    if (path !== '/status') throw new Error(`unexpected GET ${path}`);
    if (!doc || this.down.has(name)) throw new ApiUnreachable(`${name}: connection refused`);
    return { status: 200, body: structuredClone(doc) };
  }

  async send(apiUrl: string, method: 'POST' | 'PATCH' | 'DELETE', path: string, opts: ApiCallOptions): Promise<ApiResponse> {
    const name = this.#name(apiUrl);
    if (this.down.has(name)) throw new ApiUnreachable(`${name}: connection refused`);
    const call: SentCall = { member: name, method, path, ...(opts.body !== undefined ? { body: opts.body } : {}), ...(opts.headers ? { headers: { ...opts.headers } } : {}) };
    this.sent.push(call);
    const h = this.handlers.get(`${method} ${path}`);
    return h ? h(call) : { status: 200, body: { message: 'ok' } };
  }

  calls(): string[] {
    return this.sent.map((c) => `${c.member} ${c.method} ${c.path}`);
  }
}

export function statusDoc(role: string, patch: Record<string, unknown> = {}): Record<string, unknown> {
  return { role, state: 'running', timeline: 2, pause: false, pending_restart: false, replication: [], ...patch };
}

export interface TestIo extends CtlIo {
  out(): string;
  err(): string;
  /** Lines typed at the prompt (interactive only). */
  type(text: string): void;
}

export function testIo(opts: { interactive?: boolean; env?: NodeJS.ProcessEnv; homeDir?: string } = {}): TestIo {
  let out = '';
  let err = '';
  let t = 1_000_000;
  const stdin = new PassThrough();
  return {
    stdout: { write: (s: string) => { out += s; return true; } },
    stderr: { write: (s: string) => { err += s; return true; } },
    stdin,
    interactive: opts.interactive ?? false,
    env: opts.env ?? {},
    homeDir: opts.homeDir ?? '/nonexistent-home',
    now: () => t,
    wallNow: () => Date.parse('2025-01-01T00:00:00Z') + t,
    sleep: async (ms) => { t += ms; await new Promise((r) => setTimeout(r, 1)); },
    edit: async () => 1,
    out: () => out,
    err: () => err,
    type: (text) => { stdin.write(text); },
  };
}

export interface Harness {
  etcd: FakeEtcd;
  api: FakeApi;
  io: TestIo;
  run(...args: string[]): Promise<number>;
}

/** A three-node cluster (node-a leader) whose agents all answer /status. */
export function harness(opts: { interactive?: boolean; read?: ClusterRead } = {}): Harness {
  const etcd = new FakeEtcd(opts.read);
  const api = new FakeApi(etcd);
  for (const m of etcd.state.view.members) api.status.set(m.name, statusDoc(m.name === etcd.state.view.leader ? 'primary' : 'replica'));
  const io = testIo({ interactive: opts.interactive ?? false });
  return {
    etcd, api, io,
    run: (...args) => runCtl(['--etcd', '127.0.0.1:2379', '--scope', 'demo', ...args], io, { makeEtcd: () => etcd, makeApi: () => api }),
  };
}
