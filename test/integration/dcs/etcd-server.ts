// Real etcd for the DCS integration tests: 1 or 3 members on loopback, data in a temp dir (tmpfs
// when there is one), each member killable, freezable (SIGSTOP) and restartable. stop() always
// kills every member; members also die with the test process (setpriv --pdeathsig) and from a
// process 'exit' hook, so no etcd outlives a run.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientUrl, etcdArgs, etcdMemberHealth, type EtcdMember, type EtcdTiming } from '../../../agent/local/etcd.js';
import { allocatePorts } from '../../../agent/local/ports.js';
import { findSetpriv } from '../../../agent/local/supervisor.js';

/** Fast elections for the 3-member tests; a single member elects itself at once anyway. */
const TEST_TIMING: EtcdTiming = { heartbeatMs: 50, electionMs: 500 };

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

export class EtcdNode {
  #proc: ChildProcess | null = null;
  readonly url: string;
  constructor(readonly member: EtcdMember, private readonly all: readonly EtcdMember[], private readonly token: string) {
    this.url = clientUrl(member);
  }

  get pid(): number {
    const pid = this.#proc?.pid;
    if (pid === undefined) throw new Error(`${this.member.name} is not running`);
    return pid;
  }

  start(): void {
    const args = etcdArgs(this.member, this.all, this.token, TEST_TIMING);
    // Restarting an existing member must not try to bootstrap a new cluster.
    if (existsSync(join(this.member.dataDir, 'member'))) {
      const i = args.indexOf('--initial-cluster-state');
      args[i + 1] = 'existing';
    }
    const setpriv = findSetpriv();
    const [cmd, argv] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', 'etcd', ...args]] : ['etcd', args];
    const log = createWriteStream(this.member.logFile, { flags: 'a' });
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.pipe(log);
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    this.#proc = proc;
  }

  freeze(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  thaw(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  async kill(): Promise<void> {
    const proc = this.#proc;
    this.#proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL'); // works on a stopped process too
    await exited;
  }

  async waitHealthy(timeoutMs = 15_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last: true | string = 'not probed';
    while (Date.now() < until) {
      last = await etcdMemberHealth(this.url, 500);
      if (last === true) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd ${this.member.name} not healthy after ${timeoutMs} ms: ${last} (log: ${this.member.logFile})`);
  }
}

export class EtcdTestCluster {
  private constructor(readonly nodes: readonly EtcdNode[], private readonly dir: string) {}

  static async start(size: 1 | 3): Promise<EtcdTestCluster> {
    const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    const dir = mkdtempSync(join(base, 'pgwarden-dcs-test-'));
    const ports = await allocatePorts(size * 2);
    const members: EtcdMember[] = Array.from({ length: size }, (_, i) => ({
      name: `e${i}`,
      clientPort: ports[2 * i]!,
      peerPort: ports[2 * i + 1]!,
      dataDir: join(dir, `e${i}`),
      logFile: join(dir, `e${i}.log`),
    }));
    const token = `dcs-test-${process.pid}-${Date.now()}`;
    const cluster = new EtcdTestCluster(members.map((m) => new EtcdNode(m, members, token)), dir);
    try {
      for (const n of cluster.nodes) n.start();
      await Promise.all(cluster.nodes.map((n) => n.waitHealthy()));
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  get endpoints(): string[] {
    return this.nodes.map((n) => n.url);
  }

  node(i: number): EtcdNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no etcd node ${i}`);
    return n;
  }

  /** Kill every member (even frozen ones) and remove the data. Never throws. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
