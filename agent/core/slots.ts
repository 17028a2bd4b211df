// Replication slot names derived from member names. PostgreSQL allows [a-z0-9_] up to 63 bytes:
// lowercase, every other character becomes '_', and a name that had to change or is too long
// gets a short hash suffix so two members never map to one slot.
import type { MemberRecord } from './types.js';

const MAX = 63;

/** A short stable hash (FNV-1a, 8 hex digits) for names derived from arbitrary text. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export function slotNameFor(memberName: string): string {
  const cleaned = memberName.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (cleaned === memberName && cleaned.length <= MAX) return cleaned;
  return `${cleaned.slice(0, MAX - 9)}_${fnv1a(memberName)}`;
}

/** Slots a primary named `self` should keep: one per other member. */
export function wantedSlots(self: string, members: readonly Pick<MemberRecord, 'name'>[]): string[] {
  return members.filter((m) => m.name !== self).map((m) => slotNameFor(m.name)).sort();
}
