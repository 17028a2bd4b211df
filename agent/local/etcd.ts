// etcd members of a local cluster: command lines and health probes.
import { spawn } from 'node:child_process';
import { childEnv } from './supervisor.js';

export interface EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly logFile: string;
}

export interface EtcdTiming {
  /** --heartbeat-interval, ms. */
  readonly heartbeatMs: number;
  /** --election-timeout, ms. */
  readonly electionMs: number;
}

export const LOCAL_ETCD_TIMING: EtcdTiming = { heartbeatMs: 100, electionMs: 1000 };

export const clientUrl = (m: EtcdMember): string => `http://127.0.0.1:${m.clientPort}`;
export const peerUrl = (m: EtcdMember): string => `http://127.0.0.1:${m.peerPort}`;

export function etcdArgs(m: EtcdMember, all: readonly EtcdMember[], clusterToken: string, timing: EtcdTiming): string[] {
  return [
    '--name', m.name,
    '--data-dir', m.dataDir,
    '--listen-client-urls', clientUrl(m),
    '--advertise-client-urls', clientUrl(m),
    '--listen-peer-urls', peerUrl(m),
    '--initial-advertise-peer-urls', peerUrl(m),
    '--initial-cluster', all.map((x) => `${x.name}=${peerUrl(x)}`).join(','),
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', clusterToken,
    '--heartbeat-interval', String(timing.heartbeatMs),
    '--election-timeout', String(timing.electionMs),
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    // Keep the small tmpfs footprint small and bounded.
    '--quota-backend-bytes', String(256 * 1024 * 1024),
    '--auto-compaction-mode', 'revision',
    '--auto-compaction-retention', '1000',
    '--snapshot-count', '10000',
  ];
}

/** GET /health on one member: true when it has a leader and serves reads; else the reason. */
export async function etcdMemberHealth(url: string, timeoutMs: number): Promise<true | string> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return `${url}: HTTP ${res.status} ${text.slice(0, 200)}`;
    }
    const health = (body as { health?: unknown }).health;
    return health === 'true' || health === true ? true : `${url}: ${text.trim().slice(0, 200)}`;
  } catch (err) {
    return `${url}: ${(err as Error).message}`;
  }
}

export interface EtcdctlResult {
  readonly ok: boolean;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when etcdctl itself had to be killed at the deadline. */
  readonly timedOut: boolean;
}

/**
 * Run `etcdctl` (API v3) against `endpoints` with dial and command timeouts; the process itself is
 * killed at `timeoutMs` + 2 s whatever happens. Never rejects.
 */
export function runEtcdctl(
  bin: string,
  endpoints: readonly string[],
  args: readonly string[],
  timeoutMs: number,
): Promise<EtcdctlResult> {
  const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
  const full = [
    `--endpoints=${endpoints.join(',')}`,
    `--dial-timeout=${secs}s`,
    `--command-timeout=${secs}s`,
    ...args,
  ];
  return new Promise((resolve) => {
    const child = spawn(bin, full, {
      env: childEnv({ ETCDCTL_API: '3' }, null),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs + 2000);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, code: null, stdout, stderr: `${stderr}${err.message}`, timedOut });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0 && !timedOut, code, stdout, stderr, timedOut });
    });
  });
}
