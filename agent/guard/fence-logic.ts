// The guard program's decisions, without I/O: when to fire, and which processes to kill. The
// program (main.ts) reads the clock and /proc and does the killing; this file decides. Imports
// nothing, like the program itself.

/** What the guard knows between commands. */
export interface GuardState {
  /** CLOCK_MONOTONIC ns until which PostgreSQL may accept writes; null while disarmed. */
  readonly deadlineNs: bigint | null;
  /** The postmaster named by the last arm (0: unknown). */
  readonly pid: number;
}

export const DISARMED: GuardState = { deadlineNs: null, pid: 0 };

/**
 * The instant the guard's timer should fire: `slackNs` before the deadline, so that timer
 * lateness (a busy host, a slow wakeup) still leaves PostgreSQL dead by the deadline itself.
 */
export function fireAtNs(state: GuardState, slackNs: bigint): bigint | null {
  return state.deadlineNs === null ? null : state.deadlineNs - slackNs;
}

/** Fire now? (The timer woke up; a later arm may have moved the deadline on meanwhile.) */
export function due(state: GuardState, nowNs: bigint, slackNs: bigint): boolean {
  const at = fireAtNs(state, slackNs);
  return at !== null && nowNs >= at;
}

/** One process as /proc shows it. */
export interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** Resolved /proc/<pid>/cwd, null when unreadable. */
  readonly cwd: string | null;
  /** State letter of /proc/<pid>/stat ('Z' zombie, 'X' dead). */
  readonly state: string;
}

/**
 * The processes to SIGKILL so that nothing of this PostgreSQL can write: the postmaster, its
 * children (backends, walsenders, checkpointer…, each its own process group since PostgreSQL
 * calls setsid() in every child), and any postgres process still working in the data directory
 * (a backend already reparented after its postmaster died). Zombies are already dead.
 */
export function victims(procs: readonly ProcInfo[], postmasterPid: number, dataDir: string | null): number[] {
  const out = new Set<number>();
  for (const p of procs) {
    if (p.state === 'Z' || p.state === 'X') continue;
    if (p.pid === postmasterPid && postmasterPid > 0) out.add(p.pid);
    else if (postmasterPid > 0 && p.ppid === postmasterPid) out.add(p.pid);
    else if (dataDir !== null && p.comm === 'postgres' && p.cwd === dataDir) out.add(p.pid);
  }
  return [...out].sort((a, b) => a - b);
}

/** Parse /proc/<pid>/stat: the command may contain spaces and parentheses. */
export function parseStat(text: string): { pid: number; comm: string; state: string; ppid: number } | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid)) return null;
  return { pid, comm: text.slice(open + 1, close), state: rest[0] ?? '?', ppid };
}
