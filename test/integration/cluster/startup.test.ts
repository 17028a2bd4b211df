// Issue 11, item 8: the agent binary (dist/) started in conditions an operator expects.
//  - etcd not reachable: WARN lines with the error and the retry delay, no stack trace, still
//    running; SIGTERM while it waits: exit 0 at once.
//  - etcd comes up late: "etcd is reachable; starting", and it goes on.
//  - the REST port held by another program: one error line naming the address, exit 1.
//  - a wrong postgresql.bin_dir: exit 2 naming the file and key, before touching etcd.
// Starts a real etcd: run under `flock /tmp/pgwarden-cluster.lock` with the other cluster tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findRepoDir } from '../../harness/index.js';
import { allocatePorts } from '../../../agent/local/ports.js';
import { EtcdTestCluster } from '../dcs/etcd-server.js';

const cli = join(findRepoDir(), 'dist/agent/cli.js');
const STACK = /\n\s+at .+\(?.+:\d+:\d+\)?/;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

function config(o: { etcdPort: number; apiPort: number; binDir?: string }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-startup-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'pgwarden.yml');
  writeFileSync(file, `name: n1
scope: startup-test
etcd: { hosts: ["127.0.0.1:${o.etcdPort}"] }
restapi: { listen: "127.0.0.1:${o.apiPort}" }
postgresql:
  data_dir: ${join(dir, 'data')}
${o.binDir ? `  bin_dir: ${o.binDir}\n` : ''}`);
  return file;
}

interface Agent {
  proc: ChildProcess;
  out: () => string;
  lines: () => { level: number; msg: string; [k: string]: unknown }[];
  exited: Promise<number | null>;
  waitFor: (re: RegExp, ms: number) => Promise<void>;
}

function startAgentProcess(file: string): Agent {
  const proc = spawn(process.execPath, [cli, 'agent', '-c', file, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => { out += String(d); });
  proc.stderr!.on('data', (d: Buffer) => { out += String(d); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
  const waitFor = async (re: RegExp, ms: number) => {
    const until = Date.now() + ms;
    while (!re.test(out)) {
      if (Date.now() > until) throw new Error(`not seen within ${ms} ms: ${re}\n--- output ---\n${out}`);
      if (proc.exitCode !== null) throw new Error(`agent exited (${proc.exitCode}) before ${re}\n--- output ---\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { proc, out: () => out, lines, exited, waitFor };
}

async function holdPort(port: number): Promise<Server> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

describe('agent start-up', () => {
  it('etcd not reachable: WARN lines, no stack trace, keeps waiting; SIGTERM ends it with exit 0', async () => {
    const [etcdPort, apiPort] = await allocatePorts(2);
    const agent = startAgentProcess(config({ etcdPort: etcdPort!, apiPort: apiPort! }));
    await agent.waitFor(/etcd is not reachable[^\n]*\n[^\n]*etcd is not reachable/, 15_000);
    const warns = agent.lines().filter((l) => l.level === 40);
    expect(warns[0]).toMatchObject({ hosts: [`127.0.0.1:${etcdPort}`], attempt: 1 });
    expect(warns[0]!.msg).toMatch(/ECONNREFUSED|UNAVAILABLE|no answer/);
    expect(agent.out()).not.toMatch(STACK);
    expect(agent.proc.exitCode).toBeNull();
    const t = Date.now();
    agent.proc.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(Date.now() - t).toBeLessThan(3_000);
    expect(agent.out()).not.toMatch(STACK);
  }, 30_000);

  it('etcd that comes up late is used; a REST port held by another program is one error line, exit 1', async () => {
    const etcd = await EtcdTestCluster.start(1);
    cleanups.push(() => etcd.stop());
    const etcdPort = Number(new URL(etcd.endpoints[0]!).port);
    await etcd.node(0).kill();
    const [apiPort] = await allocatePorts(1);
    await holdPort(apiPort!);
    const agent = startAgentProcess(config({ etcdPort, apiPort: apiPort! }));
    await agent.waitFor(/etcd is not reachable/, 15_000);
    etcd.node(0).start();
    await agent.waitFor(/etcd is reachable; starting/, 30_000);
    await agent.waitFor(/REST API cannot listen/, 10_000);
    const code = await agent.exited;
    expect(code).toBe(1);
    const stderrLines = agent.out().split('\n').filter((l) => l.startsWith('pgwarden:'));
    expect(stderrLines).toEqual([
      `pgwarden: REST API cannot listen on 127.0.0.1:${apiPort} (restapi.listen): address already in use (another pgwarden agent or program holds the port)`,
    ]);
    expect(agent.out()).not.toMatch(STACK);
    expect(agent.out()).not.toMatch(/EADDRINUSE.*\n\s+at /);
  }, 90_000);

  it('a wrong postgresql.bin_dir: exit 2 naming the file and key, before etcd is asked', async () => {
    const [etcdPort, apiPort] = await allocatePorts(2);
    const file = config({ etcdPort: etcdPort!, apiPort: apiPort!, binDir: '/usr/lib/postgresql/99/bin' });
    const res = spawnSync(process.execPath, [cli, 'agent', '-c', file, '--log-format', 'json'], { encoding: 'utf8', timeout: 20_000 });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(`${file}: postgresql.bin_dir: "/usr/lib/postgresql/99/bin" does not exist`);
    expect(res.stdout).not.toMatch(/etcd/);
    expect(`${res.stdout}${res.stderr}`).not.toMatch(STACK);
  });
});
