import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../agent/clock.js';
import { childEnv, runProgram } from '../../../agent/postgres/exec.js';
import { isAlive } from '../../../agent/postgres/procfs.js';

describe('runProgram', () => {
  it('captures output and splits lines at \\r and \\n', async () => {
    const lines: string[] = [];
    const r = await runProgram({
      file: '/bin/sh', args: ['-c', 'printf "1/2 kB (50%%)\\r2/2 kB (100%%)\\n" >&2; echo out; exit 3'],
      owner: null, clock: systemClock, timeoutMs: 5000, onLine: (l, stream) => lines.push(`${stream}:${l}`),
    });
    expect(r).toMatchObject({ code: 3, timedOut: false, stdout: 'out\n' });
    expect(lines.filter((l) => l.startsWith('stderr:'))).toEqual(['stderr:1/2 kB (50%)', 'stderr:2/2 kB (100%)']);
    expect(lines.filter((l) => l.startsWith('stdout:'))).toEqual(['stdout:out']);
  });

  it('kills the program (and its group) at the deadline', async () => {
    const t0 = performance.now();
    const r = await runProgram({ file: '/bin/sh', args: ['-c', 'sleep 30 & echo $!; sleep 30'], owner: null, clock: systemClock, timeoutMs: 300, killGraceMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(performance.now() - t0).toBeLessThan(3000);
    const background = Number(r.stdout.trim());
    expect(background).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 100));
    expect(await isAlive(background)).toBe(false); // the whole group is gone (a zombie counts as gone)
  });

  it('rejects when the program does not exist', async () => {
    await expect(runProgram({ file: '/nonexistent/prog', args: [], owner: null, clock: systemClock, timeoutMs: 1000 })).rejects.toThrow(/cannot run/);
  });

  it('childEnv drops PG* variables and forces C messages', () => {
    process.env.PGPASSWORD = 'leak';
    try {
      const env = childEnv({ PGPASSFILE: '/x' });
      expect(env.PGPASSWORD).toBeUndefined();
      expect(env.PGPASSFILE).toBe('/x');
      expect(env.LC_ALL).toBe('C');
    } finally {
      delete process.env.PGPASSWORD;
    }
  });
});
