// Real etcd for the DCS integration tests: 1 or 3 members on loopback (optionally TLS with client
// certificates), data in a temp dir (tmpfs when there is one), each member killable, freezable
// (SIGSTOP) and restartable. stop() always kills every member; members also die with the test
// process (setpriv --pdeathsig) and from a process 'exit' hook, so no etcd outlives a run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { clientUrl, etcdArgs, etcdMemberHealth, type EtcdMember, type EtcdTiming } from '../../../agent/local/etcd.js';
import { allocatePorts } from '../../../agent/local/ports.js';
import { waitFor } from '../../../agent/local/wait.js';
import { findSetpriv } from '../../../agent/local/supervisor.js';
import { stopAndConfirm } from '../../../agent/local/procfs.js';

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

const DIR_PREFIX = 'pgwarden-dcs-test-';

/** Data dirs left by a test process that was killed before its afterAll ran. */
function removeStaleDirs(base: string): void {
  for (const name of readdirSync(base)) {
    const pid = Number(new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(base, name), { recursive: true, force: true });
    }
  }
}

/** PEM files of a throwaway CA, a server certificate for 127.0.0.1 and a client certificate. */
export interface TestCerts {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

function makeCerts(dir: string): TestCerts {
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...key, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=pgwarden test CA');
  for (const [who, usage] of [['server', 'serverAuth,clientAuth'], ['client', 'clientAuth']] as const) {
    writeFileSync(f(`${who}.ext`), `subjectAltName=IP:127.0.0.1\nextendedKeyUsage=${usage}\n`);
    openssl('req', ...key, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=${who}`);
    openssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f(`${who}.crt`), '-days', '1', '-extfile', f(`${who}.ext`));
  }
  return { ca: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
}

export class EtcdNode {
  #proc: ChildProcess | null = null;
  readonly url: string;
  constructor(
    readonly member: EtcdMember,
    private readonly all: readonly EtcdMember[],
    private readonly token: string,
    private readonly certs: TestCerts | null,
  ) {
    this.url = certs ? clientUrl(member).replace('http://', 'https://') : clientUrl(member);
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
    if (this.certs) {
      for (const flag of ['--listen-client-urls', '--advertise-client-urls']) args[args.indexOf(flag) + 1] = this.url;
      args.push('--cert-file', this.certs.serverCert, '--key-file', this.certs.serverKey,
        '--trusted-ca-file', this.certs.ca, '--client-cert-auth');
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
    if (!stopAndConfirm(this.pid)) throw new Error(`etcd ${this.pid} did not stop within 1 s of SIGSTOP`);
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
    const certs = this.certs;
    const probe = certs
      ? async () => {
        const client = new Etcd3({
          hosts: this.url,
          credentials: {
            rootCertificate: readFileSync(certs.ca), certChain: readFileSync(certs.clientCert), privateKey: readFileSync(certs.clientKey),
          },
        });
        try {
          await client.maintenance.status({ deadline: Date.now() + 500 });
          return true as const;
        } finally {
          client.close();
        }
      }
      : () => etcdMemberHealth(this.url, 500);
    await waitFor(probe, {
      timeoutMs, intervalMs: 50, until: (v) => v === true, what: `etcd ${this.member.name} healthy (log: ${this.member.logFile})`,
    });
  }
}

export class EtcdTestCluster {
  private constructor(readonly nodes: readonly EtcdNode[], private readonly dir: string, readonly certs: TestCerts | null) {}

  /** Start `size` members; with `tls`, clients must use https and a certificate from `certs`. */
  static async start(size: 1 | 3, opts: { tls?: boolean } = {}): Promise<EtcdTestCluster> {
    const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    removeStaleDirs(base);
    const dir = mkdtempSync(join(base, `${DIR_PREFIX}${process.pid}-`));
    const ports = await allocatePorts(size * 2);
    const members: EtcdMember[] = Array.from({ length: size }, (_, i) => ({
      name: `e${i}`,
      clientPort: ports[2 * i]!,
      peerPort: ports[2 * i + 1]!,
      dataDir: join(dir, `e${i}`),
      logFile: join(dir, `e${i}.log`),
    }));
    const token = `dcs-test-${process.pid}-${Date.now()}`;
    const certs = opts.tls ? makeCerts(dir) : null;
    const cluster = new EtcdTestCluster(members.map((m) => new EtcdNode(m, members, token, certs)), dir, certs);
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
