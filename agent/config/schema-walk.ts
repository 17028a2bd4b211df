// Finds the sub-schema at a key path, to learn what type a key expects (for coercing env and flag
// strings) and which keys a mapping allows (for "unknown key" messages).
import type { PathSegment } from './paths.js';

interface Def {
  type: string;
  innerType?: Walkable;
  in?: Walkable;
  shape?: Record<string, Walkable>;
  element?: Walkable;
  valueType?: Walkable;
}

interface Walkable {
  _zod: { def: unknown };
}

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional']);

function defOf(s: Walkable): Def {
  return s._zod.def as Def;
}

/** Strips defaults, optionals and transforms down to the schema that checks the value. */
function unwrap(s: Walkable): Walkable {
  let cur = s;
  for (let i = 0; i < 20; i++) {
    const def = defOf(cur);
    if (WRAPPERS.has(def.type) && def.innerType) cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else break;
  }
  return cur;
}

export function schemaAt(root: Walkable, path: readonly PathSegment[]): Walkable | undefined {
  let cur: Walkable | undefined = unwrap(root);
  for (const seg of path) {
    const def = defOf(cur);
    let next: Walkable | undefined;
    if (def.type === 'object' && typeof seg === 'string') next = def.shape && Object.hasOwn(def.shape, seg) ? def.shape[seg] : undefined;
    else if (def.type === 'array') next = def.element;
    else if (def.type === 'record') next = def.valueType;
    if (!next) return undefined;
    cur = unwrap(next);
  }
  return cur;
}

/** "number", "boolean", "string", "array", "object", "enum", … or undefined for an unknown path. */
export function kindAt(root: Walkable, path: readonly PathSegment[]): string | undefined {
  const s = schemaAt(root, path);
  return s ? defOf(s).type : undefined;
}

/** The keys a mapping at `path` allows (empty when it is not a fixed mapping). */
export function keysAt(root: Walkable, path: readonly PathSegment[]): string[] {
  const s = schemaAt(root, path);
  const def = s ? defOf(s) : undefined;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}
