import type { Lsn } from './types.js';

/** Parse PostgreSQL's textual pg_lsn ('16/B374D848') into a byte position. */
export function parseLsn(text: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`not a pg_lsn: ${JSON.stringify(text)}`);
  return parseInt(m[1]!, 16) * 0x1_0000_0000 + parseInt(m[2]!, 16);
}

/** Format a byte position as PostgreSQL's pg_lsn text. */
export function formatLsn(lsn: Lsn): string {
  const hi = Math.floor(lsn / 0x1_0000_0000);
  const lo = lsn % 0x1_0000_0000;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}
