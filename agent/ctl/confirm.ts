// Confirmation of dangerous commands. On a terminal: ask. Elsewhere (scripts, CI, pipes) nobody
// can answer, so the command refuses with exit 2 unless --force (or the command's own flag) says
// the caller already decided.
import { createInterface } from 'node:readline/promises';
import { CtlFailure, CtlUsageError, type CtlIo } from './io.js';

/** How long a prompt waits for a person before giving up. */
export const PROMPT_TIMEOUT_MS = 5 * 60_000;

/** Ask one question on the terminal; resolves with the trimmed answer. */
export async function ask(io: CtlIo, question: string, timeoutMs = PROMPT_TIMEOUT_MS): Promise<string> {
  // The prompt goes through io.stdout; readline only reads (the terminal echoes what is typed).
  io.stdout.write(question);
  const rl = createInterface({ input: io.stdin, terminal: false });
  // End of input (Ctrl-D, a closed pipe) answers "" rather than waiting for the timeout.
  const closed = new Promise<string>((resolve) => rl.once('close', () => resolve('')));
  try {
    return (await Promise.race([rl.question('', { signal: AbortSignal.timeout(timeoutMs) }), closed])).trim();
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw new CtlFailure(`no answer within ${timeoutMs / 1000} s; aborted`);
    throw err;
  } finally {
    rl.close();
  }
}

/**
 * Go ahead? `force` skips the question. Without a terminal and without force: CtlUsageError
 * (exit 2) naming the flag. A "no" on the terminal: CtlFailure (exit 1) "aborted".
 */
export async function confirm(io: CtlIo, question: string, opts: { force: boolean; flag?: string }): Promise<void> {
  if (opts.force) return;
  const flag = opts.flag ?? '--force';
  if (!io.interactive) {
    throw new CtlUsageError(`${question.replace(/\?\s*$/, '')}: needs confirmation, but stdin is not a terminal; pass ${flag} to go ahead without asking`);
  }
  const answer = await ask(io, `${question} [y/N] `);
  if (!/^y(es)?$/i.test(answer)) throw new CtlFailure('aborted');
}

/**
 * `--force` on a changing command that never asks (pause, resume, reload): accepted so that a
 * script can pass `--force` to every changing command, as the runbook says; it changes nothing.
 */
export const forceOption = {
  type: 'boolean', default: false, describe: 'accepted for uniformity with the other changing commands (this one does not ask)',
} as const;
