// pino loggers: JSON by default, human-readable on a TTY or when asked. Secrets are redacted.
//
// Level changes (SIGHUP reload): a pino child logger is created with Object.create(parent) and,
// unless it is given a level of its own, reads its level and its level methods through that
// prototype chain. So setting the level on the ROOT changes every descendant at once, including
// fastify's per-request loggers and children created later. setLogLevel() finds the root from any
// logger of the tree. Rule that keeps this true: never pass `level` to child() and never assign
// `.level` on a child; call setLogLevel() instead (test/unit/log.test.ts guards it).
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password', '*.password', '*.*.password', '*.*.*.password',
  'token', '*.token', '*.*.token',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  level?: string;
  /** auto (default): pretty when the output is a terminal, JSON lines otherwise. */
  format?: 'json' | 'pretty' | 'auto';
  name?: string;
  /** Write to this stream instead of stdout (tests capture lines); JSON unless format is 'pretty'. */
  destination?: NodeJS.WritableStream;
  /** Write to stderr instead of stdout (commands whose stdout is their result). */
  stderr?: boolean;
}

/** The root of every tree createLogger() makes; descendants inherit the property. */
const ROOT = Symbol('pgwarden.logRoot');

export function createLogger(opts: LogOptions = {}): Logger {
  const format = opts.format ?? 'auto';
  const fd = opts.stderr ? 2 : 1;
  const tty = (fd === 2 ? process.stderr : process.stdout).isTTY === true;
  const pretty = format === 'pretty' || (format === 'auto' && tty && !opts.destination);
  const base = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(opts.name ? { name: opts.name } : {}),
  };
  let root: Logger;
  if (pretty && !opts.destination) {
    root = pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: tty, translateTime: 'SYS:HH:MM:ss.l', destination: fd } },
    });
  } else if (opts.destination) {
    root = pino(base, opts.destination);
  } else {
    root = fd === 2 ? pino(base, pino.destination(2)) : pino(base);
  }
  Object.defineProperty(root, ROOT, { value: root, enumerable: false });
  return root;
}

/** The root logger of `logger`'s tree (itself when it was not made by createLogger). */
export function rootOf(logger: Logger): Logger {
  return (logger as Logger & { [ROOT]?: Logger })[ROOT] ?? logger;
}

export function isLogLevel(level: string): level is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(level);
}

/**
 * Apply `level` to the whole tree `logger` belongs to (root, every child, grandchild and
 * per-request logger, existing or created later). Returns the previous level.
 */
export function setLogLevel(logger: Logger, level: LogLevel): string {
  const root = rootOf(logger);
  const previous = root.level;
  root.level = level;
  return previous;
}
