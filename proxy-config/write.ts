// The small I/O edge around render.ts: write a rendered config atomically and ask HAProxy
// whether it accepts it. (`--watch` re-renders, writes only on change, then reloads.)
import { execFile } from 'node:child_process';
import { readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const DEFAULT_HAPROXY_BIN = '/usr/sbin/haproxy';

/**
 * Write `text` to `path` via a temporary file and rename (a reader never sees half a file).
 * Resolves true when the content changed, false when the file already held exactly this text.
 */
export async function writeHaproxyConfig(path: string, text: string, mode = 0o644): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => null);
  if (current === text) return false;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, text, { mode });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return true;
}

export type InstallResult =
  | { readonly status: 'unchanged' }
  | { readonly status: 'written' }
  /** HAProxy refused the new text; the file at `path` was not touched. */
  | { readonly status: 'rejected'; readonly output: string };

/**
 * Like writeHaproxyConfig, but with `validate` the new text is checked with `haproxy -c` in its
 * temporary file first, and only renamed over `path` when HAProxy accepts it. The running config
 * is never replaced by one HAProxy rejects. Rejects only on I/O errors.
 */
export async function installHaproxyConfig(
  path: string,
  text: string,
  opts: { validate: boolean; haproxyBin?: string; mode?: number },
): Promise<InstallResult> {
  const current = await readFile(path, 'utf8').catch(() => null);
  if (current === text) return { status: 'unchanged' };
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, text, { mode: opts.mode ?? 0o644 });
    if (opts.validate) {
      const check = await checkHaproxyConfig(tmp, opts.haproxyBin ? { haproxyBin: opts.haproxyBin } : {});
      if (!check.ok) {
        await unlink(tmp).catch(() => undefined);
        return { status: 'rejected', output: check.output };
      }
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return { status: 'written' };
}

export interface HaproxyCheckResult {
  readonly ok: boolean;
  /** HAProxy's own words (stdout + stderr), for the error message. */
  readonly output: string;
}

/** `haproxy -c -f <file>`: validates without starting. Never rejects; a timeout is a failure. */
export function checkHaproxyConfig(
  file: string,
  opts: { haproxyBin?: string; timeoutMs?: number } = {},
): Promise<HaproxyCheckResult> {
  const bin = opts.haproxyBin ?? DEFAULT_HAPROXY_BIN;
  return new Promise((resolve) => {
    execFile(bin, ['-c', '-f', file], { timeout: opts.timeoutMs ?? 10_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (err) {
        const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${bin} not found` : err.message;
        resolve({ ok: false, output: output || why });
      } else {
        resolve({ ok: true, output });
      }
    });
  });
}
