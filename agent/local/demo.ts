// `pgwarden demo`: a complete local cluster (etcd ×3, PostgreSQL + agent ×N, HAProxy), its
// connection strings and a live member table. Ctrl-C stops everything.
import { LocalCluster } from './cluster.js';
import { renderMemberTable, type MemberRow } from './member-table.js';

interface DemoOptions {
  readonly nodes: number;
  readonly runDir?: string;
}

function rowsOf(cluster: LocalCluster, statuses: Record<string, Record<string, unknown>>): MemberRow[] {
  const primary = Object.values(statuses).find((s) => s.role === 'primary');
  const optime = (primary?.xlog as { location?: number } | undefined)?.location ?? null;
  return cluster.nodes.map((n) => {
    const s = statuses[n.name];
    const xlog = s?.xlog as { replayed_location?: number } | undefined;
    const replayed = xlog?.replayed_location ?? null;
    return {
      name: n.name,
      role: s ? String(s.role ?? '?') : 'down',
      state: s ? String(s.state ?? '?') : (cluster.agentRunning(n) ? 'not answering' : 'agent stopped'),
      timeline: typeof s?.timeline === 'number' ? s.timeline : null,
      lagBytes: s?.role === 'replica' && optime !== null && replayed !== null ? Math.max(0, optime - replayed) : null,
      extra: {
        'Agent PID': String(cluster.agentPid(n) ?? '-'),
        'PG PID': String(cluster.postmasterPid(n) ?? '-'),
        'PG port': String(n.pgPort),
      },
    };
  });
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const cluster = new LocalCluster({
    agents: opts.nodes,
    scope: 'demo',
    agentLogLevel: 'info',
    signalHandlers: false,
    ...(opts.runDir ? { baseDir: opts.runDir } : {}),
  });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${why}: stopping the demo cluster…\n`);
    await cluster.stop();
    process.stdout.write(`stopped. Data and logs are kept in ${cluster.runDir}\n`);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('Ctrl-C'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  process.stdout.write(`Starting a ${opts.nodes}-node pgwarden demo cluster in ${cluster.runDir} …\n`);
  try {
    await cluster.start();
    await cluster.waitUntilReady({ timeoutMs: 180_000 });
  } catch (err) {
    process.stderr.write(`demo failed to start: ${err instanceof Error ? err.message : String(err)}\nlogs: ${cluster.runDir}\n`);
    await cluster.stop();
    return 1;
  }
  const intro = [
    '',
    'pgwarden demo cluster is up.',
    `  read-write:  ${cluster.rwConnString()}`,
    `  read-only:   ${cluster.roConnString()}`,
    `  HAProxy stats: http://127.0.0.1:${cluster.haproxy.statsPort}/`,
    ...cluster.nodes.map((n) => `  ${n.name}: API ${n.apiUrl}  logs ${n.logFile}`),
    '',
    'Try: kill -9 the primary\'s "Agent PID" and "PG PID" in another terminal and watch a replica take over.',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
  process.stdout.write(intro);
  const tty = process.stdout.isTTY === true;
  let last = '';
  while (!stopping) {
    const table = renderMemberTable(rowsOf(cluster, await cluster.statuses(800) as Record<string, Record<string, unknown>>));
    if (table !== last) {
      if (tty) process.stdout.write(`\x1b[2J\x1b[H${intro}\n${new Date().toISOString()}\n`);
      process.stdout.write(`${table}\n`);
      last = table;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return 0;
}
