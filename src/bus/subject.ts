import { BusError } from './bus.js';

// NATS forbids whitespace in subjects; empty tokens (`a..b`, `.a`, `a.`) are malformed too.
const FORBIDDEN = /[\s]/;

/** True for a concrete subject: non-empty tokens, no wildcards, no whitespace. */
export function isValidSubject(subject: string): boolean {
  if (subject.length === 0 || FORBIDDEN.test(subject)) return false;
  return subject.split('.').every((token) => token.length > 0 && token !== '*' && token !== '>');
}

/**
 * True for a subscription pattern: like a subject, but a token may be `*` (exactly one token), and
 * the last token may be `>` (one or more tokens). Wildcards are whole tokens (`a*` is literal in
 * NATS; we reject it to avoid surprises).
 */
export function isValidPattern(pattern: string): boolean {
  if (pattern.length === 0 || FORBIDDEN.test(pattern)) return false;
  const tokens = pattern.split('.');
  return tokens.every((token, i) => {
    if (token.length === 0) return false;
    if (token === '>') return i === tokens.length - 1;
    if (token === '*') return true;
    return !token.includes('*') && !token.includes('>');
  });
}

/** Throws a {@link BusError} `invalid_subject` unless `subject` is a concrete subject. */
export function assertSubject(subject: string): void {
  if (!isValidSubject(subject)) {
    throw new BusError('invalid_subject', `invalid subject ${JSON.stringify(subject)}: expected dot-separated tokens without wildcards or whitespace`);
  }
}

/** Throws a {@link BusError} `invalid_subject` unless `pattern` is a valid subscription pattern. */
export function assertPattern(pattern: string): void {
  if (!isValidPattern(pattern)) {
    throw new BusError('invalid_subject', `invalid subject pattern ${JSON.stringify(pattern)}: expected dot-separated tokens, '*' for one token, '>' only as the last token`);
  }
}

/**
 * Does `subject` match `pattern` the way NATS matches it? `*` matches exactly one token, a final
 * `>` matches one or more tokens. Both arguments are assumed valid.
 *
 * @example
 * ```ts
 * subjectMatches('a.*.c', 'a.b.c'); // true
 * subjectMatches('a.>', 'a');       // false: '>' needs at least one token
 * ```
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}

/** True when two patterns can match a common subject (used to reject overlapping queue subjects). */
export function patternsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; ; i++) {
    const tx = x[i];
    const ty = y[i];
    if (tx === '>' || ty === '>') return (tx === '>' ? y.length : x.length) > i;
    if (tx === undefined || ty === undefined) return tx === ty;
    if (tx !== '*' && ty !== '*' && tx !== ty) return false;
  }
}

const QUEUE_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * Throws a {@link BusError} `invalid_subject` unless `name` can name a job queue (and a JetStream
 * stream): letters, digits, `_` and `-`, not ending in `_DLQ` (the dead-letter streams' suffix).
 */
export function assertQueueName(name: string): void {
  if (!QUEUE_NAME.test(name) || name.endsWith('_DLQ')) {
    throw new BusError(
      'invalid_subject',
      `invalid job queue name ${JSON.stringify(name)}: use letters, digits, '_' and '-', not ending in _DLQ`,
    );
  }
}

/** Throws a {@link BusError} `invalid_subject` unless `queue` can name a queue group. */
export function assertQueueGroup(queue: string): void {
  if (queue.length === 0 || FORBIDDEN.test(queue)) {
    throw new BusError('invalid_subject', `invalid queue group ${JSON.stringify(queue)}: must be non-empty, without whitespace`);
  }
}

/** The subject token for a process or session id: NATS tokens cannot hold '.', '*', '>' or spaces. */
export function subjectToken(value: string): string {
  const token = value.replace(/[.*>\s]/g, '_');
  return token === '' ? '_' : token;
}
