// Every health path (SPEC §1.1) × every node situation we can produce for real on one 3-node
// cluster × GET, HEAD, OPTIONS. Situations, in the order the test walks through them:
//   primary, streaming replica, replica tagged noloadbalance   (a healthy cluster)
//   replica whose replay is paused > 1 MB behind               (pg_wal_replay_pause + ~17 MB written)
//   primary and replica of a paused cluster                    (POST /pause)
//   a node whose PostgreSQL is down                            (paused cluster, postmaster SIGKILLed)
// The PostgreSQL-down row needs the pause: without it the agent restarts PostgreSQL within a loop
// cycle (rule follower.start), so "down" would last a few hundred ms and the table would race
// it; a frozen agent (SIGSTOP) cannot answer at all. In maintenance mode the agent leaves
// PostgreSQL alone (rule `paused`), which is also what an operator who stops PostgreSQL under
// pause sees — so the situation is real and stable for as long as the test needs.
// node3 is tagged noloadbalance, and nofailover so that it never wins the bootstrap race and is
// always a replica (nofailover plays no part in any health answer).
import { describe, expect, it } from 'vitest';
import { withCluster, type LocalNode } from '../../harness/index.js';
import { direct, jsonBody, makeReplayLag, rawRequest, replayLagBytes, resumeReplay } from './support.js';

const PATHS = [
  '/', '/primary', '/read-write', '/leader', '/replica', '/replica?lag=1MB', '/read-only', '/read-only?lag=1MB',
  '/sync', '/async', '/health', '/liveness', '/readiness',
] as const;
type Path = (typeof PATHS)[number];
type Table = Record<Path, number>;
const METHODS = ['GET', 'HEAD', 'OPTIONS'] as const;

/** Builds a row from the paths that answer 200; every other path answers 503. */
function row(ok: readonly Path[]): Table {
  return Object.fromEntries(PATHS.map((p) => [p, ok.includes(p) ? 200 : 503])) as Table;
}

const EXPECTED = {
  primary: row(['/', '/primary', '/read-write', '/leader', '/read-only', '/read-only?lag=1MB', '/health', '/liveness', '/readiness']),
  replica: row(['/replica', '/replica?lag=1MB', '/read-only', '/read-only?lag=1MB', '/async', '/health', '/liveness', '/readiness']),
  lagging: row(['/replica', '/read-only', '/async', '/health', '/liveness', '/readiness']),
  noloadbalance: row(['/health', '/liveness', '/readiness']),
  // /liveness stays 200 while paused, so a supervisor never restarts the agent under an operator.
  pgDown: row(['/liveness']),
};

interface Body {
  readonly name?: string;
  readonly role?: string;
  readonly state?: string;
  readonly timeline?: number | null;
  readonly pause?: boolean;
}

describe('health endpoints on a real cluster', () => {
  const cluster = withCluster({
    agents: 3, scope: 'ithealth', waitReady: { timeoutMs: 120_000 },
    tags: { node3: { noloadbalance: true, nofailover: true } },
  });
  let primary: LocalNode;
  let replica: LocalNode;
  let nolb: LocalNode;
  let timeline: number;

  /**
   * Every path × method on `node`. Returns the status table (each path's three methods must
   * agree; a disagreement shows up as the odd one out) and the problems found in bodies.
   */
  async function probe(node: LocalNode, body: Body): Promise<{ table: Record<string, number | string>; problems: string[] }> {
    const answers = await Promise.all(PATHS.flatMap((path) => METHODS.map(async (method) => ({
      path, method, res: await rawRequest(node, method, path),
    }))));
    const table: Record<string, number | string> = {};
    const problems: string[] = [];
    for (const path of PATHS) {
      const codes = METHODS.map((m) => answers.find((a) => a.path === path && a.method === m)!.res.status);
      table[path] = codes.every((c) => c === codes[0]) ? codes[0]! : METHODS.map((m, i) => `${m} ${codes[i]}`).join(', ');
    }
    for (const { path, method, res } of answers) {
      const where = `${method} ${path} on ${node.name}`;
      if (method !== 'GET') {
        if (res.body.length !== 0) problems.push(`${where}: ${res.body.length} body bytes, want none`);
        continue;
      }
      if (!res.headers['content-type']?.startsWith('application/json')) problems.push(`${where}: content-type ${res.headers['content-type']}`);
      const doc = jsonBody<Body>(res);
      for (const [k, v] of Object.entries({ name: node.name, ...body })) {
        const got = doc[k as keyof Body];
        if (got !== v) problems.push(`${where}: ${k} ${JSON.stringify(got)}, want ${JSON.stringify(v)}`);
      }
    }
    return { table, problems };
  }

  async function expectRow(node: LocalNode, expected: Table, body: Body): Promise<void> {
    const { table, problems } = await probe(node, body);
    expect({ node: node.name, table }).toEqual({ node: node.name, table: expected });
    expect(problems).toEqual([]);
  }

  /** Wait (with a deadline) until `node` answers `path` with `status`: the agent saw the change. */
  async function untilAnswers(node: LocalNode, path: string, status: number, timeoutMs = 15_000): Promise<void> {
    await cluster.waitFor(() => rawRequest(node, 'OPTIONS', path).then((r) => r.status), {
      timeoutMs, intervalMs: 100, what: `${node.name} to answer ${status} to ${path}`, until: (s) => s === status,
    });
  }

  it('healthy cluster: primary, streaming replica, replica tagged noloadbalance', async () => {
    primary = await cluster.waitForPrimary();
    expect(primary.name).not.toBe('node3');
    replica = cluster.nodes.find((n) => n.name !== primary.name && n.name !== 'node3')!;
    nolb = cluster.node('node3');
    const [{ tl }] = await direct<{ tl: string }>(cluster, primary, 'SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS tl') as [{ tl: string }];
    timeline = parseInt(tl, 16);
    // Both replicas are streaming from the primary right now (PostgreSQL's view, not the agent's).
    await cluster.waitFor(() => direct<{ application_name: string }>(cluster, primary,
      "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"), {
      timeoutMs: 20_000, what: 'both replicas streaming', until: (r) => r.length === 2,
    });

    await expectRow(primary, EXPECTED.primary, { role: 'primary', state: 'running', timeline, pause: false });
    await expectRow(replica, EXPECTED.replica, { role: 'replica', state: 'running', timeline, pause: false });
    await expectRow(nolb, EXPECTED.noloadbalance, { role: 'replica', state: 'running', timeline, pause: false });
  });

  it('rejects a bad lag with 400 naming the parameter, and answers unknown paths with 404 JSON', async () => {
    for (const path of ['/replica?lag=abc', '/read-only?lag=abc', '/async?lag=1XB']) {
      const get = await rawRequest(replica, 'GET', path);
      expect(get.status, `GET ${path}`).toBe(400);
      expect(get.headers['content-type']).toMatch(/^application\/json/);
      const body = jsonBody<{ error: { code: string; parameter: string; message: string } }>(get);
      expect(body.error).toMatchObject({ code: 'INVALID_PARAMETER', parameter: 'lag' });
      expect(body.error.message).toMatch(/\blag\b/);
      for (const m of ['HEAD', 'OPTIONS']) {
        const r = await rawRequest(replica, m, path);
        expect({ status: r.status, bytes: r.body.length }, `${m} ${path}`).toEqual({ status: 400, bytes: 0 });
      }
    }
    // A valid lag in other units is accepted.
    expect((await rawRequest(replica, 'OPTIONS', '/replica?lag=1048576')).status).toBe(200);
    expect((await rawRequest(replica, 'OPTIONS', '/replica?lag=512kB')).status).toBe(200);

    const unknown = await rawRequest(primary, 'GET', '/no-such-health-path?lag=1MB');
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/json/);
    expect(jsonBody(unknown)).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining('/no-such-health-path') } });
  });

  it('replica with replay paused beyond 1 MB: out of /replica?lag=1MB, still a replica', async () => {
    const lag = await makeReplayLag(cluster, primary, replica, { table: 'it_health_lag', minLagMb: 8 });
    // The agent compares its replayed position with the leader's published one (each loop cycle).
    await untilAnswers(replica, '/replica?lag=1MB', 503);
    await expectRow(replica, EXPECTED.lagging, { role: 'replica', state: 'running', timeline, pause: false });
    // SPEC §1.3: xlog.paused reports pg_is_wal_replay_paused().
    expect(((await cluster.apiStatus(replica)).xlog as { paused?: boolean }).paused).toBe(true);
    process.stdout.write(`health table: ${replica.name} replay lag ${lag} bytes\n`);

    await resumeReplay(cluster, primary, replica);
    await untilAnswers(replica, '/replica?lag=1MB', 200);
    await expectRow(replica, EXPECTED.replica, { role: 'replica', state: 'running', timeline, pause: false });
    expect(((await cluster.apiStatus(replica)).xlog as { paused?: boolean }).paused).toBe(false);
  });

  it('paused cluster (POST /pause): primary and replica answer as before, pause shows in the body', async () => {
    const res = await cluster.api(primary, '/pause', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ pause: true });
    await cluster.waitFor(() => cluster.statuses(), {
      timeoutMs: 10_000, what: 'every agent to report pause: true',
      until: (s) => Object.keys(s).length === 3 && Object.values(s).every((x) => x.pause === true),
    });
    await expectRow(primary, EXPECTED.primary, { role: 'primary', state: 'running', timeline, pause: true });
    await expectRow(replica, EXPECTED.replica, { role: 'replica', state: 'running', timeline, pause: true });
    await expectRow(nolb, EXPECTED.noloadbalance, { role: 'replica', state: 'running', timeline, pause: true });
  });

  it('PostgreSQL down (paused cluster, postmaster killed): only /liveness answers 200', async () => {
    await cluster.killPostgres(replica);
    await untilAnswers(replica, '/health', 503);
    // SIGKILLed, not stopped: the agent reports it as crashed (role from the control file).
    await expectRow(replica, EXPECTED.pgDown, { role: 'replica', state: 'crashed', pause: true });
    // Paused: the agent left PostgreSQL down the whole time.
    expect(cluster.postmasterPid(replica)).toBeNull();
    // Others are unaffected.
    await expectRow(primary, EXPECTED.primary, { role: 'primary', state: 'running', timeline, pause: true });

    const res = await cluster.api(primary, '/resume', { method: 'POST' });
    expect(res.status).toBe(200);
    // Resumed, the agent starts PostgreSQL again; a standby restarted after a crash replays from
    // its last restartpoint, so it really is behind (and /replica?lag=1MB rightly 503) for a while.
    await untilAnswers(replica, '/replica', 200, 30_000);
    await cluster.waitFor(() => replayLagBytes(cluster, primary, replica), {
      timeoutMs: 20_000, what: `${replica.name} caught up after the restart`, until: (l) => l <= 0,
    });
    await untilAnswers(replica, '/replica?lag=1MB', 200);
    await expectRow(replica, EXPECTED.replica, { role: 'replica', state: 'running', timeline, pause: false });
  });
});
