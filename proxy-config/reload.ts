// Asking a running HAProxy to load a new config without dropping established connections.
// Two ways, both graceful (old processes finish their sessions, new ones take new connections):
// - a command of the operator's (`--reload-cmd "systemctl reload haproxy"`), run with /bin/sh;
// - SIGUSR2 to the master process of HAProxy in master-worker mode (`haproxy -W … -p PIDFILE`),
//   whose pid is read from `--haproxy-pid-file` at each reload.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export type ReloadMethod =
  | { readonly kind: 'none' }
  | { readonly kind: 'command'; readonly command: string }
  | { readonly kind: 'pidfile'; readonly pidFile: string };

export interface ReloadResult {
  readonly ok: boolean;
  /** What was done, or why it failed (for the log). */
  readonly message: string;
}

export function describeReload(m: ReloadMethod): string {
  switch (m.kind) {
    case 'none': return 'no reload (neither --reload-cmd nor --haproxy-pid-file given)';
    case 'command': return `run ${JSON.stringify(m.command)}`;
    case 'pidfile': return `SIGUSR2 to the HAProxy master whose pid is in ${m.pidFile}`;
  }
}

/** The first line of a pid file as a pid, or an error message. */
export function parsePidFile(text: string, file: string): number | string {
  const first = text.split('\n', 1)[0]?.trim() ?? '';
  const pid = Number(first);
  return /^\d+$/.test(first) && pid > 1 ? pid : `${file} does not start with a process id (got ${JSON.stringify(first.slice(0, 40))})`;
}

/** Reload HAProxy. Never rejects. */
export async function reloadHaproxy(m: ReloadMethod, timeoutMs = 30_000): Promise<ReloadResult> {
  switch (m.kind) {
    case 'none':
      return { ok: true, message: describeReload(m) };
    case 'pidfile': {
      let text: string;
      try {
        text = await readFile(m.pidFile, 'utf8');
      } catch (err) {
        return { ok: false, message: `cannot read ${m.pidFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
      }
      const pid = parsePidFile(text, m.pidFile);
      if (typeof pid === 'string') return { ok: false, message: pid };
      try {
        process.kill(pid, 'SIGUSR2');
      } catch (err) {
        return { ok: false, message: `cannot signal HAProxy master ${pid} (from ${m.pidFile}): ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
      }
      return { ok: true, message: `sent SIGUSR2 to HAProxy master ${pid}` };
    }
    case 'command':
      return new Promise((resolve) => {
        execFile('/bin/sh', ['-c', m.command], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
          const output = `${stdout}${stderr}`.trim();
          if (err) {
            const why = err.killed ? `timed out after ${timeoutMs} ms` : `exit code ${String(err.code)}`;
            resolve({ ok: false, message: `reload command ${JSON.stringify(m.command)} failed (${why})${output ? `: ${output}` : ''}` });
          } else {
            resolve({ ok: true, message: `ran ${JSON.stringify(m.command)}${output ? `: ${output}` : ''}` });
          }
        });
      });
  }
}
