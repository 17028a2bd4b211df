// vitest fixtures around LocalCluster. `withCluster(opts)` returns a cluster that is started in
// beforeAll and always stopped in afterAll (even when a test or the start failed). The run
// directory is deleted when every test of the file passed, and kept — path printed — otherwise
// (or always, with LOCALCLUSTER_KEEP_RUNS=1).
import { afterAll, beforeAll } from 'vitest';
import { LocalCluster, type LocalClusterOptions } from '../../agent/local/index.js';

type TaskLike = { type?: string; result?: { state?: string }; tasks?: readonly TaskLike[] };

function anyFailed(task: TaskLike): boolean {
  if (task.result?.state === 'fail') return true;
  return (task.tasks ?? []).some(anyFailed);
}

export interface WithClusterOptions extends LocalClusterOptions {
  /** Wait for one primary and all replicas after start (needs agents). Default false. */
  waitReady?: boolean | { timeoutMs?: number };
}

export function withCluster(opts: WithClusterOptions = {}): LocalCluster {
  const { waitReady, ...clusterOpts } = opts;
  const cluster = new LocalCluster(clusterOpts);
  let startFailed = false;
  beforeAll(async () => {
    try {
      await cluster.start();
      if (waitReady) await cluster.waitUntilReady(typeof waitReady === 'object' ? waitReady : {});
    } catch (err) {
      startFailed = true;
      throw err;
    }
  });
  // vitest wants the first hook argument destructured; the suite is the second.
  // eslint-disable-next-line no-empty-pattern
  afterAll(async ({}, suite) => {
    await cluster.stop();
    const failed = startFailed || anyFailed(suite as TaskLike);
    if (failed || process.env.LOCALCLUSTER_KEEP_RUNS === '1') {
      process.stderr.write(`LocalCluster run dir kept: ${cluster.runDir}\n`);
    } else {
      cluster.removeRunDir();
    }
  });
  return cluster;
}
