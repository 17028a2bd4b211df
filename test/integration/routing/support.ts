// Shared bits of the routing tests: raw HTTP against an agent's API (so HEAD/OPTIONS bodies are
// seen byte for byte), Prometheus text parsing, replay lag made for real, HAProxy rows.
import { connect } from 'node:net';
import type { LocalCluster, LocalNode } from '../../harness/index.js';
import { sql } from '../../harness/index.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The bytes after the header block, exactly as sent (chunked bodies decoded). */
  readonly body: Buffer;
}

/**
 * One HTTP/1.1 request on a fresh socket with `Connection: close`; reads until the server closes.
 * fetch() would hide a body sent with HEAD, so health answers are read this way.
 */
export function rawRequest(node: LocalNode, method: string, path: string, timeoutMs = 2000): Promise<RawResponse> {
  const { apiHost: host, apiPort: port } = node;
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${method} ${path} on ${node.name}: no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => {
      sock.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

function parseResponse(raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`incomplete HTTP answer: ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`);
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') body = dechunk(body);
  return { status: Number(m[1]), headers, body };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = parseInt(b.subarray(i, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** JSON body of a raw answer (throws with the text when it is not JSON). */
export function jsonBody<T = Record<string, unknown>>(r: RawResponse): T {
  const text = r.body.toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON (HTTP ${r.status}): ${JSON.stringify(text.slice(0, 300))}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Prometheus text format

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Samples of a Prometheus text exposition (comments and blank lines skipped). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const raw = m[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** The samples named `name` whose labels include `match`. */
export function samples(all: readonly Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return all.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The value of the single sample named `name` matching `match`; throws unless exactly one. */
export function single(all: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  const found = samples(all, name, match);
  if (found.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(match)} sample, found ${found.length}`);
  return found[0]!.value;
}

// ---------------------------------------------------------------------------------------------
// Real replication lag

const MB = 1024 * 1024;

/** Runs `query` on the node's PostgreSQL directly (not through HAProxy). */
export function direct<R extends Record<string, unknown> = Record<string, unknown>>(
  cluster: LocalCluster, node: LocalNode, query: string, params: unknown[] = [], timeoutMs = 5000,
): Promise<R[]> {
  return sql<R>(cluster.pgConnString(node), query, params, { timeoutMs });
}

/** Bytes the node has replayed behind the primary's current WAL position, measured in PostgreSQL. */
export async function replayLagBytes(cluster: LocalCluster, primary: LocalNode, replica: LocalNode): Promise<number> {
  const [{ lsn }] = await direct<{ lsn: string }>(cluster, primary, 'SELECT pg_current_wal_lsn()::text AS lsn') as [{ lsn: string }];
  const [{ lag }] = await direct<{ lag: string }>(cluster, replica,
    'SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::bigint::text AS lag', [lsn]) as [{ lag: string }];
  return Number(lag);
}

/**
 * Pause replay on `replica`, write ~17 MB through HAProxy's read-write port, and wait until the
 * replica is more than `minLagMb` MB behind as PostgreSQL itself measures it. Resolves that lag.
 */
export async function makeReplayLag(
  cluster: LocalCluster, primary: LocalNode, replica: LocalNode, opts: { table: string; minLagMb: number },
): Promise<number> {
  await direct(cluster, replica, 'SELECT pg_wal_replay_pause()');
  // 60 000 rows of ~270 bytes: ~17 MB of table and WAL.
  await sql(cluster.rwConnString(),
    `CREATE TABLE ${opts.table} AS SELECT g, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 60000) g`,
    [], { timeoutMs: 30_000 });
  return cluster.waitFor(() => replayLagBytes(cluster, primary, replica), {
    timeoutMs: 10_000, intervalMs: 200, what: `${replica.name} replaying over ${opts.minLagMb} MB behind ${primary.name}`,
    until: (lag) => lag > opts.minLagMb * MB,
  });
}

/** Resume replay and wait until the replica has replayed everything the primary wrote. */
export async function resumeReplay(cluster: LocalCluster, primary: LocalNode, replica: LocalNode): Promise<void> {
  await direct(cluster, replica, 'SELECT pg_wal_replay_resume()');
  await cluster.waitFor(() => replayLagBytes(cluster, primary, replica), {
    timeoutMs: 20_000, intervalMs: 100, what: `${replica.name} to replay up to ${primary.name}'s position`,
    until: (lag) => lag <= 0,
  });
}

export { MB };
