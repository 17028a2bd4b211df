// The layering rules of agent/ (docs/architecture.md, "Layout and dependencies"):
//   cli → daemon → runtime/api/ctl/chaos/local/proxy-config → core, dcs, postgres, guard, config, ports, http
// and which folders must read time and set timers only through the Clock port.
import { codeWithoutComments, importSpecifiers } from './scan.js';
import type { Graph } from './graph.js';

/** The folder a file belongs to: agent/<folder>/…, proxy-config/…; agent/cli.ts is `cli`, agent/clock.ts, log.ts, version.ts are `base`. */
export function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'proxy-config') return 'proxy-config';
  if (parts.length > 2) return parts[1]!;
  return parts[1] === 'cli.ts' ? 'cli' : 'base';
}

/** The bottom layer: adapters, pure logic and shared leaves. */
const LOW = ['core', 'dcs', 'postgres', 'guard', 'config', 'ports', 'http', 'base'];
/** The middle layer: what the daemon and the CLI put together. */
const MID = ['runtime', 'api', 'ctl', 'chaos', 'local', 'proxy-config'];

/** Folder → the folders its files may import (besides its own). */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  cli: ['daemon', ...MID, ...LOW],
  daemon: [...MID, ...LOW],
  runtime: LOW,
  api: ['runtime', ...LOW], // only runtime's node-state and control types, see RUNTIME_FOR_API
  ctl: LOW,
  chaos: ['local', 'ctl', ...LOW], // an operator's ctl command can be part of a fault (ttl.ts)
  local: ['proxy-config', ...LOW],
  'proxy-config': LOW,
  core: [],
  config: ['core', 'base'],
  ports: ['core', 'config', 'base'],
  http: ['core', 'config', 'base'],
  dcs: ['core', 'config', 'ports', 'base'],
  postgres: ['core', 'config', 'ports', 'base'],
  guard: ['config', 'ports', 'base'],
  base: [],
};

/** The runtime files api may import: the node's state it serves and the control port it calls. */
export const RUNTIME_FOR_API = ['agent/runtime/node-state.ts', 'agent/runtime/control.ts'];

/** One line per import that breaks the folder rule. */
export function ruleViolations(g: Graph): string[] {
  const out: string[] = [];
  for (const [from, tos] of g) {
    const a = folderOf(from);
    for (const to of tos) {
      const b = folderOf(to);
      if (a === b) continue;
      const allowed = ALLOWED[a]?.includes(b) === true && (a !== 'api' || b !== 'runtime' || RUNTIME_FOR_API.includes(to));
      if (!allowed) out.push(`${from} imports ${to}: ${a} may not import ${b}`);
    }
  }
  return out;
}

/** Packages (not relative imports) a core file imports: core imports nothing but core. */
export function corePackageImports(file: string, source: string): string[] {
  if (folderOf(file) !== 'core') return [];
  return importSpecifiers(source).filter((s) => !s.startsWith('.')).map((s) => `${file} imports ${s}: core imports nothing but core`);
}

/** Folders that read time and set timers only through the Clock port (agent/clock.ts). */
export const CLOCKED = ['runtime', 'dcs', 'postgres', 'api', 'http', 'guard'];

/**
 * The fence guard program: a process of its own whose whole job is a timer on CLOCK_MONOTONIC
 * (process.hrtime), shared with the agent through systemClock.hostMonotonicNs. It and the files
 * it loads import nothing but Node's built-ins and each other (no dependencies to load or stall).
 */
export const GUARD_PROGRAM = ['agent/guard/main.ts', 'agent/guard/fence-logic.ts', 'agent/guard/protocol.ts'];
export const CLOCK_EXEMPT = ['agent/guard/main.ts'];

/** Imports of a guard program file other than node: built-ins and the other program files. */
export function guardProgramImports(file: string, source: string): string[] {
  if (!GUARD_PROGRAM.includes(file)) return [];
  const dir = file.slice(0, file.lastIndexOf('/') + 1);
  return importSpecifiers(source).filter((s) => {
    if (s.startsWith('node:')) return false;
    if (s.startsWith('./')) return !GUARD_PROGRAM.includes(dir + s.slice(2).replace(/\.js$/, '.ts'));
    return true;
  }).map((s) => `${file} imports ${s}: the guard program imports only node: built-ins and itself`);
}

const CLOCK_CALLS: ReadonlyArray<[RegExp, string]> = [
  [/\bsetTimeout\s*\(/, 'setTimeout'],
  [/\bsetInterval\s*\(/, 'setInterval'],
  [/\bDate\s*\.\s*now\s*\(/, 'Date.now()'],
  [/\bperformance\s*\.\s*now\s*\(/, 'performance.now()'],
  [/\bprocess\s*\.\s*hrtime\b/, 'process.hrtime'],
  [/\bnew\s+Date\s*(?:\(\s*\)|(?!\s*\())/, 'new Date() without an argument'],
];
const CLOCK_MODULES = /^(node:)?(timers|timers\/promises|perf_hooks)$/;

/** The direct time reads and timers in `source` (comments and string contents ignored). */
export function clockCalls(source: string): string[] {
  const code = codeWithoutComments(source);
  const found = CLOCK_CALLS.filter(([re]) => re.test(code)).map(([, what]) => what);
  return [...found, ...importSpecifiers(source).filter((s) => CLOCK_MODULES.test(s)).map((s) => `import of ${s}`)];
}
