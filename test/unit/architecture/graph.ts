// The import graph of agent/: files, the relative imports between them, and cycle finding.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { importSpecifiers } from './scan.js';

/** file (repo-relative, e.g. agent/dcs/calls.ts) → the repo-relative files it imports. */
export type Graph = Map<string, string[]>;

export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(root, rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

/** The graph of the files under `dirs`; a relative `./x.js` resolves to `./x.ts` as nodenext does. */
export function importGraph(root: string, dirs: string[]): Graph {
  const g: Graph = new Map();
  for (const file of dirs.flatMap((d) => sourceFiles(root, d))) {
    const specs = importSpecifiers(readFileSync(join(root, file), 'utf8')).filter((s) => s.startsWith('.'));
    g.set(file, specs.map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts')));
  }
  return g;
}

/** The graph between groups of nodes (`groupOf` names a node's group), without self edges. */
export function groupGraph(g: Graph, groupOf: (node: string) => string): Graph {
  const out: Graph = new Map();
  for (const [from, tos] of g) {
    const a = groupOf(from);
    if (!out.has(a)) out.set(a, []);
    for (const to of tos) {
      const b = groupOf(to);
      if (a !== b && !out.get(a)!.includes(b)) out.get(a)!.push(b);
    }
  }
  return out;
}

/** Strongly connected components of more than one node, or with a self edge: each one is a cycle. */
export function cycles(g: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        if (!g.has(w)) continue;
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (g.get(v) ?? []).includes(v)) found.push(scc.sort());
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return found;
}

export const relativeTo = (root: string, file: string): string => relative(root, file);
