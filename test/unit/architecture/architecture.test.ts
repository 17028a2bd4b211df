// The import rules of agent/ hold: one-way folder dependencies, no file or folder cycles, and no
// direct clock or timer use where the Clock port is the only way to time. See rules.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cycles, groupGraph, importGraph, sourceFiles, type Graph } from './graph.js';
import { CLOCKED, CLOCK_EXEMPT, GUARD_PROGRAM, clockCalls, corePackageImports, folderOf, guardProgramImports, ruleViolations } from './rules.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIRS = ['agent', 'proxy-config'];

/**
 * Known offenders in agent/runtime, which the lead engineer is rewriting; empty these lists as
 * the files are fixed (a listed file that no longer offends fails the test, so the list shrinks).
 */
const CLOCK_ALLOWLIST: string[] = [];
const CYCLE_ALLOWLIST: string[][] = [];

const graph = importGraph(ROOT, DIRS);
const source = (file: string): string => readFileSync(join(ROOT, file), 'utf8');
const sameSet = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));

describe('the checks can fail', () => {
  const bad: Graph = new Map([
    ['agent/dcs/a.ts', ['agent/dcs/b.ts', 'agent/runtime/x.ts']],
    ['agent/dcs/b.ts', ['agent/dcs/a.ts']],
    ['agent/runtime/x.ts', ['agent/api/server.ts', 'agent/daemon/agent.ts']],
    ['agent/api/server.ts', ['agent/runtime/ha-loop.ts', 'agent/runtime/node-state.ts']],
    ['agent/ctl/index.ts', ['agent/http/request.ts', 'agent/api/server.ts']],
    ['agent/core/decide.ts', ['agent/config/types.ts', 'agent/clock.ts']],
  ]);

  it('finds file and folder cycles', () => {
    expect(cycles(bad)).toEqual([['agent/dcs/a.ts', 'agent/dcs/b.ts']]);
    expect(cycles(groupGraph(bad, folderOf)).map((c) => c.sort())).toEqual([['api', 'runtime']]);
    expect(cycles(new Map([['a', ['a']]]))).toEqual([['a']]);
    expect(cycles(new Map([['a', ['b']], ['b', ['c']]]))).toEqual([]);
  });

  it('flags imports against the folder rule', () => {
    expect(ruleViolations(bad)).toEqual([
      'agent/dcs/a.ts imports agent/runtime/x.ts: dcs may not import runtime',
      'agent/runtime/x.ts imports agent/api/server.ts: runtime may not import api',
      'agent/runtime/x.ts imports agent/daemon/agent.ts: runtime may not import daemon',
      'agent/api/server.ts imports agent/runtime/ha-loop.ts: api may not import runtime',
      'agent/ctl/index.ts imports agent/api/server.ts: ctl may not import api',
      'agent/core/decide.ts imports agent/config/types.ts: core may not import config',
      'agent/core/decide.ts imports agent/clock.ts: core may not import base',
    ]);
    expect(corePackageImports('agent/core/x.ts', "import { pino } from 'pino';")).toHaveLength(1);
  });

  it('flags direct clock and timer use, not comments, strings or the port', () => {
    const calls = [
      'setTimeout(f, 1);', 'const t = setInterval(f, 1);', 'Date.now()', 'performance.now ()', 'process.hrtime.bigint()',
      'new Date()', 'new Date', "import { setTimeout as wait } from 'node:timers/promises';",
    ];
    for (const c of calls) expect(clockCalls(c), c).toHaveLength(1);
    const fine = [
      '// setTimeout(f, 1)', '/* Date.now() */', "log('Date.now() is not used')", 'clock.setTimer(1, f)',
      'new Date(clock.wallNow())', 'const r = /setTimeout\\(/;', '`${x} new Date()`',
    ];
    for (const c of fine) expect(clockCalls(c), c).toEqual([]);
  });
});

describe('agent/ imports', () => {
  it('reads every source file', () => {
    expect(graph.size).toBe(DIRS.flatMap((d) => sourceFiles(ROOT, d)).length);
    expect(graph.get('agent/daemon/agent.ts')?.length).toBeGreaterThan(5);
  });

  it('follow the folder rule', () => {
    expect(ruleViolations(graph)).toEqual([]);
  });

  it('the fence guard program imports only node: built-ins and its own files', () => {
    for (const f of GUARD_PROGRAM) expect(graph.has(f), f).toBe(true);
    expect(GUARD_PROGRAM.flatMap((f) => guardProgramImports(f, source(f)))).toEqual([]);
    expect(guardProgramImports('agent/guard/main.ts', "import { pino } from 'pino';\nimport { x } from '../clock.js';")).toHaveLength(2);
  });

  it('core imports no package', () => {
    expect([...graph.keys()].flatMap((f) => corePackageImports(f, source(f)))).toEqual([]);
  });

  it('have no folder cycle', () => {
    expect(cycles(groupGraph(graph, folderOf))).toEqual([]);
  });

  it('have no file cycle (but the allowlisted ones, which must still exist)', () => {
    const found = cycles(graph);
    expect(found.filter((c) => !CYCLE_ALLOWLIST.some((a) => sameSet(a, c)))).toEqual([]);
    for (const allowed of CYCLE_ALLOWLIST) {
      expect(found.some((c) => sameSet(allowed, c)), `cycle ${allowed.join(' ↔ ')} is gone: remove it from CYCLE_ALLOWLIST`).toBe(true);
    }
  });

  it(`read time and set timers only through the Clock port in ${CLOCKED.join(', ')}`, () => {
    const clocked = [...graph.keys()].filter((f) => CLOCKED.includes(folderOf(f)) && !CLOCK_EXEMPT.includes(f));
    const offenders = clocked.filter((f) => !CLOCK_ALLOWLIST.includes(f)).flatMap((f) => clockCalls(source(f)).map((c) => `${f}: ${c}`));
    expect(offenders).toEqual([]);
    for (const f of CLOCK_ALLOWLIST) {
      expect(clockCalls(source(f)), `${f} uses the Clock port now: remove it from CLOCK_ALLOWLIST`).not.toEqual([]);
    }
  });
});
