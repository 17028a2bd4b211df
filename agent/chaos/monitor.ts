// What the chaos suite watches while a scenario runs: several times per second it asks every node's
// PostgreSQL directly (not through HAProxy, not through the agent) whether it is in recovery, what
// its WAL receiver streams from, and — when it says it is a primary — whether it really accepts a
// test write into a probe table. The samples feed the pure checkers of invariants.ts:
// checkSplitBrain (two nodes writable at once), checkStaleAcks (a node acknowledging a probe write
// after another node's promotion) and convergenceTime (one primary, all others streaming from it).
// Every connection has short connect and query timeouts; a node that does not answer is "down".
import pg from 'pg';
import type { LocalCluster, LocalNode } from '../local/cluster.js';
import { endQuietly, sql } from '../local/sql.js';
import { writerNow } from '../local/writer.js';
import type { AckedWrite, NodeStateSample, Promotion, WriteSample } from './invariants.js';

export const PROBE_TABLE = 'pgwarden_chaos_probe';

export interface MonitorOptions {
  /** Pause between rounds. Default 200 ms. */
  readonly intervalMs?: number;
  /** Connect and query timeout per node. Default 400 ms. */
  readonly timeoutMs?: number;
}

interface Row {
  rec: boolean;
  wr_status: string | null;
  sender_host: string | null;
  sender_port: number | null;
}

export class ClusterMonitor {
  readonly writeSamples: WriteSample[] = [];
  readonly states: NodeStateSample[] = [];
  /** Probe writes each node acknowledged (node known: checkStaleAcks can judge them). */
  readonly probeAcks: AckedWrite[] = [];
  readonly promotions: Promotion[] = [];
  readonly #cluster: LocalCluster;
  readonly #nodes: readonly LocalNode[];
  readonly #interval: number;
  readonly #timeout: number;
  readonly #clients = new Map<string, pg.Client>();
  readonly #lastRole = new Map<string, string>();
  #seq = 0;
  #stopping = false;
  #loop: Promise<void> | null = null;
  #rounds = 0;

  constructor(cluster: LocalCluster, opts: MonitorOptions = {}) {
    this.#cluster = cluster;
    this.#nodes = cluster.nodes;
    this.#interval = opts.intervalMs ?? 200;
    this.#timeout = opts.timeoutMs ?? 400;
  }

  get rounds(): number {
    return this.#rounds;
  }

  /** Creates the probe table through HAProxy (it replicates everywhere), then starts probing. */
  async start(): Promise<void> {
    await sql(this.#cluster.rwConnString(), `CREATE TABLE IF NOT EXISTS ${PROBE_TABLE} (node text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`, [], { timeoutMs: 5000 });
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#loop;
    await Promise.all([...this.#clients.values()].map((c) => endQuietly(c, 300)));
    this.#clients.clear();
  }

  /** The latest sample of each node. */
  latest(): Map<string, NodeStateSample> {
    const m = new Map<string, NodeStateSample>();
    for (const s of this.states) m.set(s.node, s);
    return m;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const began = writerNow();
      await Promise.all(this.#nodes.map((n) => this.#probe(n)));
      this.#rounds++;
      const wait = this.#interval - (writerNow() - began);
      if (wait > 0 && !this.#stopping) await new Promise((r) => setTimeout(r, wait));
    }
  }

  #upstreamName(host: string | null, port: number | null): string | null {
    if (host === null) return null;
    const n = this.#nodes.find((x) => x.pgPort === Number(port) && (x.pgHost === host || host === 'localhost'));
    return n ? n.name : `${host}:${String(port)}`;
  }

  async #client(n: LocalNode): Promise<pg.Client> {
    const have = this.#clients.get(n.name);
    if (have) return have;
    const c = new pg.Client({
      connectionString: this.#cluster.pgConnString(n),
      connectionTimeoutMillis: this.#timeout,
      query_timeout: this.#timeout,
      application_name: 'pgwarden-chaos-probe',
    });
    c.on('error', () => undefined);
    try {
      await c.connect();
      // The probe asks "does this server accept a write at all": never wait for a sync standby.
      await c.query('SET synchronous_commit = local');
    } catch (err) {
      await endQuietly(c, 200);
      throw err;
    }
    this.#clients.set(n.name, c);
    return c;
  }

  async #drop(n: LocalNode): Promise<void> {
    const c = this.#clients.get(n.name);
    this.#clients.delete(n.name);
    if (c) await endQuietly(c, 200);
  }

  #role(node: string, role: string, at: number): void {
    const prev = this.#lastRole.get(node);
    if (role === 'primary' && prev !== 'primary') this.promotions.push({ node, at });
    if (role !== 'down') this.#lastRole.set(node, role);
  }

  async #probe(n: LocalNode): Promise<void> {
    let c: pg.Client;
    try {
      c = await this.#client(n);
    } catch {
      this.states.push({ at: writerNow(), node: n.name, role: 'down', streaming: false });
      return;
    }
    try {
      const r = await c.query<Row>(
        'SELECT pg_is_in_recovery() AS rec, w.status AS wr_status, w.sender_host, w.sender_port ' +
          'FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver w ON true',
      );
      const at = writerNow();
      const row = r.rows[0]!;
      if (row.rec) {
        this.states.push({ at, node: n.name, role: 'replica', streaming: row.wr_status === 'streaming', upstream: this.#upstreamName(row.sender_host, row.sender_port) });
        this.writeSamples.push({ at, node: n.name, writable: false });
        this.#role(n.name, 'replica', at);
        return;
      }
      const seq = ++this.#seq;
      try {
        await c.query(`INSERT INTO ${PROBE_TABLE} (node, seq) VALUES ($1, $2)`, [n.name, seq]);
        const ackAt = writerNow();
        this.states.push({ at, node: n.name, role: 'primary', streaming: false });
        this.#role(n.name, 'primary', at);
        this.writeSamples.push({ at: ackAt, node: n.name, writable: true });
        this.probeAcks.push({ id: seq, node: n.name, at: ackAt });
      } catch (err) {
        const code = (err as { code?: string }).code;
        // Read-only now (demoted between the two statements), or it did not answer in time.
        this.states.push({ at, node: n.name, role: code === '25006' ? 'replica' : 'unwritable', streaming: false });
        this.writeSamples.push({ at: writerNow(), node: n.name, writable: false });
        if (code === undefined) await this.#drop(n);
      }
    } catch {
      this.states.push({ at: writerNow(), node: n.name, role: 'down', streaming: false });
      await this.#drop(n);
    }
  }
}
