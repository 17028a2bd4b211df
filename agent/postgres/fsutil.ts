// File-system helpers that leave everything owned by the PostgreSQL OS user (when the agent is root).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Owner } from './exec.js';

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export async function chownTo(p: string, owner: Owner | null): Promise<void> {
  if (owner) await fs.chown(p, owner.uid, owner.gid);
}

/**
 * mkdir -p with `mode` on the last component; every directory this call creates is chowned to
 * `owner` (existing ones are left as they are).
 */
export async function mkdirOwned(dir: string, mode: number, owner: Owner | null): Promise<void> {
  const missing: string[] = [];
  let cur = path.resolve(dir);
  while (!(await exists(cur))) {
    missing.unshift(cur);
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (const d of missing) {
    await fs.mkdir(d, { mode: d === missing[missing.length - 1] ? mode : 0o755 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await chownTo(d, owner);
  }
  if (missing.length > 0) await fs.chmod(path.resolve(dir), mode); // umask-proof
}

/** Write a file atomically (temp + rename) with `mode`, owned by `owner`. */
export async function writeOwnedFile(file: string, content: string, mode: number, owner: Owner | null): Promise<void> {
  const tmp = `${file}.pgwarden-tmp`;
  await fs.writeFile(tmp, content, { mode });
  await fs.chmod(tmp, mode);
  await chownTo(tmp, owner);
  await fs.rename(tmp, file);
}

export async function removeIfExists(p: string): Promise<void> {
  await fs.rm(p, { force: true, recursive: true, maxRetries: 3 });
}

export async function readTextIfExists(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** A data dir counts as initialized once it holds PG_VERSION. */
export async function isInitialized(dataDir: string): Promise<boolean> {
  return exists(path.join(dataDir, 'PG_VERSION'));
}

/** True when `dir` is missing or has no entries (pg_basebackup / initdb accept both). */
export async function isMissingOrEmpty(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}
