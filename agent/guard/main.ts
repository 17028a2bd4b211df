// The fence guard: a small process of its own, started by the agent (agent/guard/client.ts), that
// stops PostgreSQL accepting writes when the agent fails to feed it before the lease deadline —
// because the agent is frozen (SIGSTOP), stuck in a long GC pause or a blocked event loop, or dead.
// It shares nothing with the agent's event loop: its own process, its own timer on
// CLOCK_MONOTONIC, no dependencies but Node's built-ins (so nothing in it allocates much or can
// stall on I/O the agent does).
//
//   node main.js --data-dir DIR [--slack-ms 50] [--device /dev/watchdog]
//
// stdin: commands (protocol.ts), stdout: events. When an armed deadline passes unfed it SIGSTOPs
// the postmaster (no more forks), SIGKILLs it and every child and every postgres process working
// in the data directory until none is left, and reports `fired`. With a watchdog device it opens
// the device when first armed, writes to it on every feed, and closes it with the magic 'V' when
// disarmed or once PostgreSQL is verifiably dead; if the guard itself stops (killed, frozen) while
// armed, the kernel resets the machine when the device's timeout runs out.
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, realpathSync, writeSync, accessSync, constants } from 'node:fs';
import { basename, join } from 'node:path';
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { DISARMED, due, fireAtNs, parseStat, victims, type GuardState, type ProcInfo } from './fence-logic.js';
import { encodeEvent, parseCommand, type GuardEvent } from './protocol.js';

interface Options {
  readonly dataDir: string;
  readonly slackNs: bigint;
  readonly device: string | null;
}

function parseArgs(argv: readonly string[]): Options {
  let dataDir: string | null = null;
  let slackMs = 50;
  let device: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--data-dir' && v) { dataDir = v; i++; } else if (argv[i] === '--slack-ms' && v) { slackMs = Number(v); i++; } else if (argv[i] === '--device' && v) { device = v; i++; } else {
      throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (dataDir === null || !Number.isFinite(slackMs) || slackMs < 0) throw new Error('usage: main.js --data-dir DIR [--slack-ms N] [--device PATH]');
  return { dataDir, slackNs: BigInt(Math.round(slackMs * 1e6)), device };
}

const now = (): bigint => process.hrtime.bigint(); // CLOCK_MONOTONIC on Linux, shared with the agent
const emit = (e: GuardEvent): void => { process.stdout.write(encodeEvent(e)); };

/** The device's timeout in seconds as the kernel reports it (sysfs), null when it does not. */
function deviceTimeout(device: string): number | null {
  let name = basename(device);
  if (name === 'watchdog') name = 'watchdog0'; // the legacy node is watchdog0
  try {
    const t = Number(readFileSync(`/sys/class/watchdog/${name}/timeout`, 'utf8').trim());
    return Number.isFinite(t) && t > 0 ? t : null;
  } catch {
    return null;
  }
}

function readProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const st = parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (!st) continue;
      let cwd: string | null = null;
      try { cwd = readlinkSync(`/proc/${entry}/cwd`); } catch { cwd = null; }
      out.push({ pid: st.pid, ppid: st.ppid, comm: st.comm, state: st.state, cwd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function pidFromPidFile(dataDir: string): number {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]?.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return 0;
  }
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

class Guard {
  #state: GuardState = DISARMED;
  #timer: NodeJS.Timeout | null = null;
  #fd: number | null = null;
  #agentGone = false;
  readonly #dataDir: string | null;

  constructor(private readonly o: Options) {
    let dir: string | null = null;
    try { dir = realpathSync(o.dataDir); } catch { dir = null; } // may not exist yet (before initdb)
    this.#dataDir = dir;
  }

  start(): void {
    const o = this.o;
    if (o.device !== null) {
      // Checked, not opened: opening a watchdog device starts its countdown.
      accessSync(o.device, constants.W_OK);
    }
    try { setPriority(0, -5); } catch { /* needs CAP_SYS_NICE; best effort */ }
    emit({ kind: 'ready', device: o.device ?? 'none', deviceTimeoutS: o.device ? deviceTimeout(o.device) : null });
  }

  arm(deadlineNs: bigint, pid: number): void {
    this.#state = { deadlineNs, pid };
    this.#pingDevice();
    this.#schedule();
  }

  disarm(): void {
    this.#state = DISARMED;
    this.#clearTimer();
    this.#closeDevice();
  }

  /** The agent closed our stdin (it exited): keep the armed deadline, then exit. */
  agentGone(): void {
    this.#agentGone = true;
    if (this.#state.deadlineNs === null) this.quit();
  }

  quit(): void {
    this.disarm();
    process.exit(0);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    this.#clearTimer();
    const at = fireAtNs(this.#state, this.o.slackNs);
    if (at === null) return;
    const ms = Number(at - now()) / 1e6;
    this.#timer = setTimeout(() => this.#wake(), Math.max(0, Math.ceil(ms)));
  }

  #wake(): void {
    this.#timer = null;
    if (!due(this.#state, now(), this.o.slackNs)) {
      this.#schedule();
      return;
    }
    this.#fire();
  }

  #fire(): void {
    const deadline = this.#state.deadlineNs!;
    let pid = this.#state.pid;
    if (pid <= 0 && this.#dataDir) pid = pidFromPidFile(this.#dataDir);
    const dataDir = this.#dataDir ?? (existsSync(this.o.dataDir) ? realpathSync(this.o.dataDir) : null);
    if (this.#agentGone && !readProcs().some((p) => p.pid === pid && p.state !== 'Z' && p.state !== 'X')) {
      // The agent died and its postmaster with it (pdeathsig): whatever runs in the data dir now
      // belongs to a restarted agent, which runs a guard of its own.
      emit({ kind: 'fired', pid, killed: 0, survivors: 0, lateNs: now() - deadline });
      process.exit(0);
    }
    // No more forks while we collect its children; then kill everything of this PostgreSQL.
    if (pid > 0) signal(pid, 'SIGSTOP');
    const killed = new Set<number>();
    let left: number[] = [];
    const until = now() + 2_000_000_000n;
    for (;;) {
      left = victims(readProcs(), pid, dataDir);
      if (left.length === 0 || now() > until) break;
      for (const v of left) if (signal(v, 'SIGKILL')) killed.add(v);
      if (pid > 0) signal(pid, 'SIGKILL');
      // The kernel reaps asynchronously: look again until only zombies (or nothing) remain.
      const spin = now() + 2_000_000n;
      while (now() < spin) { /* 2 ms */ }
    }
    const lateNs = now() - deadline;
    emit({ kind: 'fired', pid, killed: killed.size, survivors: left.length, lateNs });
    this.#state = DISARMED;
    // PostgreSQL is verifiably dead: no reason to reset the machine. Otherwise stop feeding the
    // device (if any) and let it reset the host before the lease can expire.
    if (left.length === 0) this.#closeDevice();
    if (this.#agentGone) process.exit(left.length === 0 ? 0 : 1);
  }

  #pingDevice(): void {
    if (this.o.device === null) return;
    try {
      this.#fd ??= openSync(this.o.device, 'w');
      writeSync(this.#fd, '1');
    } catch (err) {
      emit({ kind: 'device-error', message: `${this.o.device}: ${(err as Error).message}` });
    }
  }

  #closeDevice(): void {
    if (this.#fd === null) return;
    try {
      writeSync(this.#fd, 'V'); // magic close: the kernel disarms the watchdog on close
      closeSync(this.#fd);
    } catch (err) {
      emit({ kind: 'device-error', message: `closing ${this.o.device}: ${(err as Error).message}` });
    }
    this.#fd = null;
  }
}

function main(): void {
  let guard: Guard;
  try {
    guard = new Guard(parseArgs(process.argv.slice(2)));
    guard.start();
  } catch (err) {
    process.stderr.write(`pgwarden fence guard: ${(err as Error).message}\n`);
    process.exit(2);
  }
  process.stdout.on('error', () => undefined); // the agent is gone: keep fencing regardless
  // The agent stops us with `quit`; a signal to our process group or a terminal must not.
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => undefined);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const c = parseCommand(line);
    if (c === null) {
      process.stderr.write(`pgwarden fence guard: ignoring malformed command ${JSON.stringify(line.slice(0, 80))}\n`);
      return;
    }
    if (c.kind === 'arm') guard.arm(c.deadlineNs, c.pid);
    else if (c.kind === 'disarm') guard.disarm();
    emit({ kind: 'ok', seq: c.seq });
    if (c.kind === 'quit') guard.quit();
  });
  rl.on('close', () => guard.agentGone());
}

main();
