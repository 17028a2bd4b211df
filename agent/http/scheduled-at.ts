// The `scheduled_at` rule of a planned switchover, shared by the API (which enforces it) and
// `pgwarden ctl switchover` (which checks it before asking).

/** ISO-8601 date and time with a zone: 2025-06-01T12:00:00Z, 2025-06-01T14:00+02:00. */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/** Validates `scheduled_at`; returns an error sentence, or null when it is fine. */
export function scheduledAtProblem(value: string, nowMs: number): string | null {
  if (!ISO_WITH_ZONE.test(value)) {
    return `scheduled_at must be an ISO-8601 time with a time zone, such as 2030-01-01T12:00:00Z (got ${JSON.stringify(value)})`;
  }
  const at = Date.parse(value);
  if (Number.isNaN(at)) return `scheduled_at is not a valid time (got ${JSON.stringify(value)})`;
  if (at <= nowMs) return `scheduled_at must be in the future (got ${value}, now is ${new Date(nowMs).toISOString()})`;
  return null;
}
