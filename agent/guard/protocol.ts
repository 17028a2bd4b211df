// The fence guard's wire protocol: one line per message over the guard's stdin (agent → guard)
// and stdout (guard → agent). Times are CLOCK_MONOTONIC nanoseconds, which every process on the
// host shares (Node's process.hrtime.bigint() on Linux). Shared by the guard program (main.ts) and
// the agent's side (client.ts); imports nothing, so the guard program stays dependency-free.

/** Agent → guard. */
export type GuardCommand =
  /** Armed until `deadlineNs` for postmaster `pid` (0: unknown, read postmaster.pid at fire time). */
  | { readonly kind: 'arm'; readonly seq: number; readonly deadlineNs: bigint; readonly pid: number }
  | { readonly kind: 'disarm'; readonly seq: number }
  /** Disarm, close the watchdog device cleanly and exit. */
  | { readonly kind: 'quit'; readonly seq: number };

/** Guard → agent. */
export type GuardEvent =
  /** Started; `device` is 'none', or the device path and its timeout (s) when the kernel tells it. */
  | { readonly kind: 'ready'; readonly device: string; readonly deviceTimeoutS: number | null }
  /** Command `seq` applied. */
  | { readonly kind: 'ok'; readonly seq: number }
  /** The deadline passed unfed: PostgreSQL was killed (`killed` pids; `survivors` left alive; `lateNs` after the deadline, negative = before). */
  | { readonly kind: 'fired'; readonly pid: number; readonly killed: number; readonly survivors: number; readonly lateNs: bigint }
  /** The watchdog device failed (open/write); the guard keeps fencing by itself. */
  | { readonly kind: 'device-error'; readonly message: string };

export function encodeCommand(c: GuardCommand): string {
  switch (c.kind) {
    case 'arm': return `arm ${c.seq} ${c.deadlineNs} ${c.pid}\n`;
    case 'disarm': return `disarm ${c.seq}\n`;
    case 'quit': return `quit ${c.seq}\n`;
  }
}

const INT = /^\d+$/;
const SIGNED = /^-?\d+$/;

/** Parse one command line; null for anything malformed (the guard ignores it and says so). */
export function parseCommand(line: string): GuardCommand | null {
  const p = line.trim().split(/\s+/);
  const seqText = p[1] ?? '';
  if (!INT.test(seqText)) return null;
  const seq = Number(seqText);
  if (p[0] === 'arm' && p.length === 4 && INT.test(p[2]!) && INT.test(p[3]!)) {
    return { kind: 'arm', seq, deadlineNs: BigInt(p[2]!), pid: Number(p[3]) };
  }
  if (p[0] === 'disarm' && p.length === 2) return { kind: 'disarm', seq };
  if (p[0] === 'quit' && p.length === 2) return { kind: 'quit', seq };
  return null;
}

export function encodeEvent(e: GuardEvent): string {
  switch (e.kind) {
    case 'ready': return `ready ${e.device} ${e.deviceTimeoutS ?? '-'}\n`;
    case 'ok': return `ok ${e.seq}\n`;
    case 'fired': return `fired ${e.pid} ${e.killed} ${e.survivors} ${e.lateNs}\n`;
    case 'device-error': return `device-error ${e.message.replace(/\s+/g, ' ')}\n`;
  }
}

export function parseEvent(line: string): GuardEvent | null {
  const t = line.trim();
  const p = t.split(' ');
  switch (p[0]) {
    case 'ready': return p.length === 3 ? { kind: 'ready', device: p[1]!, deviceTimeoutS: p[2] === '-' ? null : Number(p[2]) } : null;
    case 'ok': return p.length === 2 && INT.test(p[1]!) ? { kind: 'ok', seq: Number(p[1]) } : null;
    case 'fired': return p.length === 5 && INT.test(p[1]!) && INT.test(p[2]!) && INT.test(p[3]!) && SIGNED.test(p[4]!) ? { kind: 'fired', pid: Number(p[1]), killed: Number(p[2]), survivors: Number(p[3]), lateNs: BigInt(p[4]!) } : null;
    case 'device-error': return { kind: 'device-error', message: t.slice('device-error '.length) };
    default: return null;
  }
}
