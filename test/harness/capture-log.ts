// A pino logger whose JSON lines are kept for assertions.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../agent/log.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export const WARN = 40;

export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', format: 'json', destination }), lines };
}
