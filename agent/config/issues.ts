// Turns zod issues into ConfigProblems: "must be <rule> (got …)", unknown keys with the allowed
// keys and a did-you-mean, enums with their allowed values. Secret values are never echoed.
import type { z } from 'zod';
import { describeValue, isSecretKey, type ConfigProblem } from './errors.js';
import { formatKeyPath, type PathSegment } from './paths.js';
import { keysAt } from './schema-walk.js';

/** Where a key path's value came from: file (and line) or another origin. */
export type Locate = (path: readonly PathSegment[]) => Pick<ConfigProblem, 'file' | 'line' | 'origin'>;

type Issue = z.core.$ZodIssue;

export function issuesToProblems(issues: readonly Issue[], schema: z.ZodType, locate: Locate): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is PathSegment => typeof p === 'string' || typeof p === 'number');
    if (issue.code === 'unrecognized_keys') {
      const allowed = keysAt(schema, path);
      for (const key of issue.keys) {
        const at = [...path, key];
        const guess = closest(key, allowed);
        out.push({
          ...locate(at),
          keyPath: formatKeyPath(at),
          message: `unknown key${guess ? ` (did you mean "${guess}"?)` : ''}`,
          ...(allowed.length ? { allowed: allowed.join(', ') } : {}),
        });
      }
      continue;
    }
    out.push({ ...locate(path), keyPath: formatKeyPath(path), ...describeIssue(issue, path) });
  }
  return out;
}

function describeIssue(issue: Issue, path: readonly PathSegment[]): { message: string; allowed?: string } {
  const last = path[path.length - 1];
  const got = typeof last === 'string' && isSecretKey(last) ? '' : ` (got ${describeValue(issue.input)})`;
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return { message: `is required: must be ${issue.message}` };
      return { message: `must be ${issue.message}${got}` };
    case 'invalid_value':
      return { message: `is not one of the allowed values${got}`, allowed: issue.values.map(String).join(', ') };
    case 'invalid_key':
      return { message: `is not a valid key: must be ${issue.issues[0]?.message ?? 'a valid key'}` };
    case 'custom': {
      const params = issue.params as { allowed?: unknown; rule?: unknown } | undefined;
      if (params?.rule === true) return { message: `must be ${issue.message}${got}` };
      return { message: issue.message, ...(typeof params?.allowed === 'string' ? { allowed: params.allowed } : {}) };
    }
    default:
      // too_small, too_big, invalid_format, invalid_union, not_multiple_of: message is the rule.
      return { message: `must be ${issue.message}${got}` };
  }
}

/** The allowed key nearest to a typo, if it is near enough to be a likely intent. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best !== undefined && bestDist <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Levenshtein distance with adjacent transposition counted as one edit ("data_dri" → "data_dir"). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
