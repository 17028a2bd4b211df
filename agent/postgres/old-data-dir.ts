// Before a rebuild the old data directory is renamed aside instead of deleted, when free space
// allows a second copy: it may hold the only copy of writes the new leader lacks (issue 11 item 2).
// At most one copy is kept; it is deleted once the rebuild succeeded.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { removeIfExists } from './fsutil.js';

export const OLD_SUFFIX = '.pgwarden-old-';

/** Bytes of the files under `dir` (symlinks not followed: a linked pg_wal is not counted). */
export async function treeSize(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) total += (await fs.lstat(p).catch(() => null))?.size ?? 0;
    }
  }
  return total;
}

/** Copies kept aside earlier for `dataDir` (`<data_dir>.pgwarden-old-*`). */
export async function oldCopies(dataDir: string): Promise<string[]> {
  const parent = path.dirname(dataDir);
  const prefix = `${path.basename(dataDir)}${OLD_SUFFIX}`;
  const names = await fs.readdir(parent).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(prefix)).map((n) => path.join(parent, n));
}

/** Free bytes for an unprivileged writer on the file system of `dir`. */
async function freeBytes(dir: string): Promise<number> {
  const st = await fs.statfs(dir);
  return Number(st.bavail) * Number(st.bsize);
}

/**
 * Rename `dataDir` to `<dataDir>.pgwarden-old-<stamp>` if the rebuild that follows will still
 * find room for a fresh copy (its current size plus 10 % and 64 MiB; older kept copies, which
 * are deleted first, count as free). Resolves the new path, or null when it cannot be kept (no
 * room, or a rename that the file system refuses, e.g. a mount point): then the caller deletes it.
 */
export async function keepAside(dataDir: string, stamp: string, log: Logger): Promise<string | null> {
  const previous = await oldCopies(dataDir);
  let previousBytes = 0;
  for (const p of previous) previousBytes += await treeSize(p);
  const size = await treeSize(dataDir);
  const needed = Math.ceil(size * 1.1) + 64 * 1024 * 1024;
  const free = (await freeBytes(path.dirname(dataDir))) + previousBytes;
  if (free < needed) {
    log.warn({ dataDir, size, free, needed }, 'not enough free space to keep the old data directory during the rebuild; deleting it');
    return null;
  }
  for (const p of previous) {
    await removeIfExists(p);
    log.info({ removed: p }, 'deleted an older kept data directory (at most one is kept)');
  }
  const target = `${dataDir}${OLD_SUFFIX}${stamp}`;
  try {
    await fs.rename(dataDir, target);
  } catch (err) {
    log.warn({ dataDir, err: (err as Error).message }, 'cannot rename the old data directory aside (a mount point?); deleting it');
    return null;
  }
  log.warn({ dataDir, keptAt: target, bytes: size }, `old data directory kept at ${target} until the rebuild succeeded`);
  return target;
}

/** Delete every copy kept aside for `dataDir`. */
export async function discardOldCopies(dataDir: string, log: Logger): Promise<void> {
  for (const p of await oldCopies(dataDir)) {
    await removeIfExists(p);
    log.info({ removed: p }, 'rebuild succeeded: deleted the old data directory kept aside');
  }
}
