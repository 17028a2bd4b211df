// pino loggers: JSON by default, human-readable on a TTY or when asked. Secrets are redacted.
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password', '*.password', '*.*.password', '*.*.*.password',
  'token', '*.token', '*.*.token',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
];

export interface LogOptions {
  level?: string;
  format?: 'json' | 'pretty' | 'auto';
  name?: string;
  /** Write to this file descriptor / destination instead of stdout (tests capture lines). */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const format = opts.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true && !opts.destination);
  const base = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(opts.name ? { name: opts.name } : {}),
  };
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return opts.destination ? pino(base, opts.destination) : pino(base);
}
