// The guard's decisions and wire format, without processes.
import { describe, expect, it } from 'vitest';
import { DISARMED, due, fireAtNs, parseStat, victims, type ProcInfo } from '../../../agent/guard/fence-logic.js';
import { encodeCommand, encodeEvent, parseCommand, parseEvent } from '../../../agent/guard/protocol.js';
import { maxDeviceTimeoutS, resolveDevice, WatchdogConfigError } from '../../../agent/guard/index.js';

describe('when the guard fires', () => {
  it('fires slack before the deadline, never while disarmed', () => {
    const s = { deadlineNs: 10_000_000_000n, pid: 42 };
    expect(fireAtNs(s, 50_000_000n)).toBe(9_950_000_000n);
    expect(due(s, 9_949_999_999n, 50_000_000n)).toBe(false);
    expect(due(s, 9_950_000_000n, 50_000_000n)).toBe(true);
    expect(fireAtNs(DISARMED, 50_000_000n)).toBeNull();
    expect(due(DISARMED, 10n ** 18n, 0n)).toBe(false);
  });
});

describe('what the guard kills', () => {
  const p = (pid: number, ppid: number, comm: string, cwd: string | null, state = 'S'): ProcInfo => ({ pid, ppid, comm, cwd, state });
  const procs = [
    p(1, 0, 'systemd', '/'),
    p(100, 1, 'node', '/opt'), // the agent
    p(200, 100, 'postgres', '/data'), // postmaster
    p(201, 200, 'postgres', '/data'), // checkpointer
    p(202, 200, 'postgres', '/data', 'Z'), // already dead
    p(203, 1, 'postgres', '/data'), // a backend reparented after an earlier kill
    p(204, 1, 'postgres', '/other'), // another cluster's
    p(205, 200, 'sh', '/tmp'), // archive_command child: still the postmaster's child
    p(300, 1, 'vim', '/data'), // someone's editor in the data dir: not postgres
  ];
  it('the postmaster, its children and postgres processes working in the data dir', () => {
    expect(victims(procs, 200, '/data')).toEqual([200, 201, 203, 205]);
  });
  it('without a pid, every postgres process of the data dir', () => {
    expect(victims(procs, 0, '/data')).toEqual([200, 201, 203]);
  });
  it('reads /proc/<pid>/stat with spaces and parentheses in the name', () => {
    expect(parseStat('4242 (postgres: walwriter (x)) S 4200 4242 4242 0 -1')).toEqual({ pid: 4242, comm: 'postgres: walwriter (x)', state: 'S', ppid: 4200 });
    expect(parseStat('garbage')).toBeNull();
  });
});

describe('the wire format', () => {
  it('round-trips commands and events', () => {
    for (const c of [{ kind: 'arm', seq: 3, deadlineNs: 123456789012345n, pid: 77 }, { kind: 'disarm', seq: 4 }, { kind: 'quit', seq: 5 }] as const) {
      expect(parseCommand(encodeCommand(c))).toEqual(c);
    }
    for (const e of [
      { kind: 'ready', device: '/dev/watchdog', deviceTimeoutS: 2 }, { kind: 'ready', device: 'none', deviceTimeoutS: null },
      { kind: 'ok', seq: 9 }, { kind: 'fired', pid: 7, killed: 5, survivors: 0, lateNs: -49_000_000n },
      { kind: 'device-error', message: '/dev/watchdog: EIO' },
    ] as const) {
      expect(parseEvent(encodeEvent(e))).toEqual(e);
    }
  });
  it('rejects malformed commands', () => {
    for (const l of ['', 'arm', 'arm 1 -5 3', 'arm 1 12 x', 'disarm', 'fire 1', 'arm 1 2 3 4']) expect(parseCommand(l), l).toBeNull();
  });
});

describe('watchdog config', () => {
  it('the device timeout must leave safety_margin before ttl (-1: ttl / 2)', () => {
    expect(maxDeviceTimeoutS(3000, 1)).toBe(2);
    expect(maxDeviceTimeoutS(30_000, 5)).toBe(25);
    expect(maxDeviceTimeoutS(20_000, -1)).toBe(10);
  });
  it('automatic uses the device only when it exists; required refuses without one', () => {
    expect(resolveDevice({ mode: 'automatic', device: '/nonexistent/watchdog', safety_margin: 1 }, 3000)).toBeNull();
    expect(resolveDevice({ mode: 'automatic', device: '/dev/null', safety_margin: 1 }, 3000)).toBe('/dev/null');
    expect(resolveDevice({ mode: 'off', device: '/dev/null', safety_margin: 1 }, 3000)).toBeNull();
    expect(() => resolveDevice({ mode: 'required', device: '/nonexistent/watchdog', safety_margin: 1 }, 3000)).toThrow(/required.*\/nonexistent\/watchdog.*softdog/);
    expect(() => resolveDevice({ mode: 'required', device: '/dev/null', safety_margin: 2.5 }, 3000)).toThrow(WatchdogConfigError);
    expect(resolveDevice({ mode: 'required', device: '/dev/null', safety_margin: 1 }, 3000)).toBe('/dev/null');
  });
});
