// edit-config's pure parts: --set parsing, the merge patch between two configs, YAML text of a
// config, and a line diff for people to read before anything is written.
import { parse as parseYaml, stringify } from 'yaml';
import { isPlainObject } from '../config/paths.js';
import { CtlUsageError } from './io.js';

const PARAMETERS_PREFIX = 'postgresql.parameters.';

/**
 * `--set key=value` (repeatable) → a merge patch. Keys are dotted paths into the dynamic config;
 * after `postgresql.parameters.` the rest is one parameter name (they may contain dots:
 * pg_stat_statements.max). Values are YAML scalars: 5 is a number, true a boolean, null deletes
 * the key (back to its default), '5' (quoted) a string.
 */
export function parseSets(sets: readonly string[], pgParams: readonly string[] = []): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const put = (path: string[], value: unknown, given: string): void => {
    let node = patch;
    for (const seg of path.slice(0, -1)) {
      const next = node[seg];
      if (next === undefined) node[seg] = {};
      else if (!isPlainObject(next)) throw new CtlUsageError(`--set ${given}: ${path.join('.')} conflicts with an earlier --set`);
      node = node[seg] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  };
  for (const s of sets) {
    const { key, value } = splitAssignment(s, '--set');
    const path = key.startsWith(PARAMETERS_PREFIX)
      ? ['postgresql', 'parameters', key.slice(PARAMETERS_PREFIX.length)]
      : key.split('.');
    if (path.some((seg) => seg === '')) throw new CtlUsageError(`--set ${s}: "${key}" is not a key path`);
    put(path, value, s);
  }
  for (const p of pgParams) {
    const { key, value } = splitAssignment(p, '--pg');
    put(['postgresql', 'parameters', key], value, p);
  }
  return patch;
}

function splitAssignment(s: string, flag: string): { key: string; value: unknown } {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new CtlUsageError(`${flag} expects key=value, got ${JSON.stringify(s)}`);
  const key = s.slice(0, eq).trim();
  const text = s.slice(eq + 1);
  let value: unknown;
  try {
    value = text.trim() === '' ? null : parseYaml(text) as unknown;
  } catch {
    value = text; // not valid YAML: the text itself
  }
  if (value !== null && typeof value === 'object') {
    throw new CtlUsageError(`${flag} ${s}: the value must be a scalar (number, string, true/false or null)`);
  }
  return { key, value };
}

/** The RFC 7396 merge patch that turns `from` into `to` (removed keys → null). */
export function mergePatchBetween(from: unknown, to: unknown): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const a = isPlainObject(from) ? from : {};
  const b = isPlainObject(to) ? to : {};
  for (const key of Object.keys(a)) {
    if (!(key in b)) patch[key] = null;
  }
  for (const [key, value] of Object.entries(b)) {
    const old = a[key];
    if (isPlainObject(value) && isPlainObject(old)) {
      const sub = mergePatchBetween(old, value);
      if (Object.keys(sub).length > 0) patch[key] = sub;
    } else if (!sameJson(old, value)) {
      patch[key] = value;
    }
  }
  return patch;
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isPlainObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  return v;
}

/** A config as YAML with keys sorted, so the text (and a diff of it) is stable. */
export function configYaml(config: unknown): string {
  return stringify(canonical(config), { lineWidth: 0 });
}

/**
 * A unified-style diff of two texts: "--- a", "+++ b", then every line prefixed with " ", "-"
 * or "+" (whole file: configs are short). Empty string when the texts are equal.
 */
export function lineDiff(before: string, after: string, labels: [string, string] = ['before', 'after']): string {
  if (before === after) return '';
  const a = before.replace(/\n$/, '').split('\n');
  const b = after.replace(/\n$/, '').split('\n');
  // Longest common subsequence table, then walk it.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out = [`--- ${labels[0]}`, `+++ ${labels[1]}`];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(` ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`-${a[i]}`);
      i++;
    } else {
      out.push(`+${b[j]}`);
      j++;
    }
  }
  return `${out.join('\n')}\n`;
}
