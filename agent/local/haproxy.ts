// HAProxy of a local cluster: command line and what its stats page says about each server.

/** Foreground master-worker (SIGUSR2 reloads, SIGTERM stops), with a pid file. */
export function haproxyArgs(configFile: string, pidFile: string): string[] {
  return ['-W', '-db', '-f', configFile, '-p', pidFile];
}

export interface HaproxyServerState {
  /** Listener name, e.g. "local_rw". */
  readonly proxy: string;
  /** Server name (the member name). */
  readonly server: string;
  /** "UP", "DOWN", "MAINT", "no check", "UP 1/2"… */
  readonly status: string;
  /** Current sessions. */
  readonly sessions: number;
  /** Last check result, e.g. "L7OK", "L7STS", "L4CON". */
  readonly checkStatus: string;
}

/** The server rows of the stats page (`/;csv`). Throws on HTTP errors; short timeout. */
export async function fetchHaproxyServers(statsPort: number, timeoutMs = 1000): Promise<HaproxyServerState[]> {
  const res = await fetch(`http://127.0.0.1:${statsPort}/;csv;norefresh`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`HAProxy stats: HTTP ${res.status}`);
  return parseHaproxyCsv(await res.text());
}

export function parseHaproxyCsv(csv: string): HaproxyServerState[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines.shift();
  if (!header?.startsWith('# ')) throw new Error('HAProxy stats: unexpected CSV header');
  const cols = header.slice(2).split(',');
  const idx = (name: string) => cols.indexOf(name);
  const [iPx, iSv, iStatus, iScur, iCheck] = [idx('pxname'), idx('svname'), idx('status'), idx('scur'), idx('check_status')];
  const out: HaproxyServerState[] = [];
  for (const line of lines) {
    const f = line.split(',');
    const server = f[iSv] ?? '';
    if (server === 'FRONTEND' || server === 'BACKEND') continue;
    out.push({
      proxy: f[iPx] ?? '',
      server,
      status: f[iStatus] ?? '',
      sessions: Number(f[iScur] ?? 0),
      checkStatus: f[iCheck] ?? '',
    });
  }
  return out;
}
