/** Milliseconds of each unit a cutoff's duration may have. */
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** The furthest from 1970 a Date can be (ms). */
const MAX_DATE_MS = 8.64e15;

const DURATION = /^(\d+)([smhdw])$/;
/** `YYYY-MM-DD`, optionally followed by an ISO time. */
const ISO_DATE = /^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

const TAKES = 'a duration such as 30d or 12h, or an ISO date such as 2026-01-31';

/**
 * A cutoff in time (epoch ms) from `value`: a whole number and a unit (`s`, `m`, `h`, `d`, `w`)
 * that long before `now`, or an ISO date (`2026-01-31`: its midnight UTC) or date and time with a
 * zone (`2026-01-31T12:00:00Z`). Anything else, a day that does not exist included, is an error
 * naming what it takes; so is a date or time after `now`, naming it and now, and what such a
 * cutoff would do (`afterNow`: every thread that ended did so before it), and a duration of zero
 * (`0s`: now), saying the same.
 */
export function parseCutoff(
  value: string,
  now: number,
  afterNow = 'it would take every thread that ended',
): { success: true; data: number } | { success: false; error: string } {
  const duration = parseDuration(value);
  // A deletion of every thread that ended is asked for by name (a time after now is refused too).
  if (duration === 0) return { success: false, error: `${value} is no time back from now: ${afterNow}; give a duration of at least 1s, or an ISO date` };
  if (duration !== undefined) {
    const at = now - duration;
    // Before the first instant a Date can hold: no thread is that old.
    return at >= -MAX_DATE_MS ? { success: true, data: at } : { success: false, error: `${value} goes back further than any date` };
  }
  const iso = ISO_DATE.exec(value);
  if (iso !== null && dayExists(iso[1]!)) {
    const at = Date.parse(iso[2] === undefined ? `${iso[1]}T00:00:00.000Z` : value);
    if (Number.isFinite(at) && at > now) {
      return { success: false, error: `${value} (${new Date(at).toISOString()}) is after now (${new Date(now).toISOString()}): ${afterNow}; give a time before now` };
    }
    if (Number.isFinite(at)) return { success: true, data: at };
  }
  return { success: false, error: `${JSON.stringify(value)} is not a cutoff: give ${TAKES}` };
}

/** Whether `YYYY-MM-DD` names a day of the calendar (Date.parse rolls February 30th over into March). */
function dayExists(day: string): boolean {
  const midnight = Date.parse(`${day}T00:00:00.000Z`);
  return Number.isFinite(midnight) && new Date(midnight).toISOString().startsWith(day);
}

/** A whole number and a unit (`s`, `m`, `h`, `d`, `w`: `30d`, `12h`) in milliseconds; undefined for anything else. */
export function parseDuration(value: string): number | undefined {
  const duration = DURATION.exec(value);
  return duration === null ? undefined : Number(duration[1]) * UNIT_MS[duration[2]!]!;
}
