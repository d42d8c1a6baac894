/**
 * Event times in the file store's index: a plain ISO time is kept as a number (8 bytes in a
 * column instead of a string per thread).
 */

/**
 * An event time as epoch ms when it is the `toISOString` of that number with a four-digit year
 * (years 0 to 9999: such strings sort as their numbers do); otherwise NaN, and the caller keeps
 * the text.
 */
export function timeValue(text: string): number {
  if (text.length !== 24) return Number.NaN;
  const fast = plainIsoMs(text);
  if (fast !== undefined) return fast;
  return isoMs(text);
}

/** The ms of `text` if it is an ISO time exactly as `toISOString` writes it (any year), else NaN. */
export function isoMs(text: string): number {
  const ms = Date.parse(text);
  return Number.isFinite(ms) && new Date(ms).toISOString() === text ? ms : Number.NaN;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** `YYYY-MM-DDTHH:mm:ss.sssZ` with every field in range (years 100 to 9999), read without `Date.parse`. */
function plainIsoMs(text: string): number | undefined {
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84 || text.charCodeAt(13) !== 58) return undefined;
  if (text.charCodeAt(16) !== 58 || text.charCodeAt(19) !== 46 || text.charCodeAt(23) !== 90) return undefined;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  const ms = digits(text, 20, 3);
  if (year < 100 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59 || ms < 0) return undefined;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0)) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** The decimal number in `text` at `start` (`length` digits), or -1. */
function digits(text: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}
