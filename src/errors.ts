import type { z } from 'zod';

/**
 * Base class of every error switchyard throws. `name` is the subclass name and `cause` is kept.
 *
 * Expected outcomes (a model's invalid JSON, a bad request body) are values, not exceptions;
 * these are for misconfiguration and system failures.
 */
export class SwitchyardError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The user configured something wrong (an agent definition, an option). */
export class ConfigError extends SwitchyardError {}

/** Input from outside (an HTTP body, a trigger, a human response) failed validation. */
export class InvalidInputError extends SwitchyardError {
  constructor(
    message: string,
    /** Human-readable list of what was wrong. */
    readonly issues: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A thread would pass the size its store can hold (on NATS a thread is one KV value, bounded by the
 * server's `max_payload`): the create or append is refused before anything is sent, and nothing is
 * written. Waiting or retrying would not help: a launch input or a human's answer this large is
 * refused (HTTP 413), and a step that cannot record what it did brings its thread to rest, failed.
 */
export class ThreadTooLargeError extends InvalidInputError {
  constructor(
    readonly threadId: string,
    /** The bytes the thread would take. */
    readonly size: number,
    /** The most it may take. */
    readonly limit: number,
    /** Where the limit comes from and how to raise it. */
    why: string,
  ) {
    super(`thread ${threadId} would be ${size} bytes, over the limit of ${limit} bytes ${why}`, [`thread ${threadId}: ${size} bytes; the limit is ${limit}`]);
  }
}

/** A thread, agent or request that does not exist. */
export class NotFoundError extends SwitchyardError {
  constructor(
    readonly what: 'thread' | 'agent' | 'request',
    readonly id: string,
    message = `${what} not found: ${id}`,
  ) {
    super(message);
  }
}

/**
 * An agent or pipeline name that the runtime does not know: the message names the ones it knows,
 * the same on every surface (TypeScript, HTTP, CLI, NATS).
 */
export class UnknownAgentError extends NotFoundError {
  constructor(
    name: string,
    /** The agents and pipelines known, in the order they were defined. */
    readonly known: readonly string[],
  ) {
    super('agent', name, unknownAgentMessage(name, known));
  }
}

/**
 * `unknown agent "<name>" (known: a, b)`: one spelling for every surface; with `did you mean <x>?`
 * first when one known name alone is close to it (a typo among many agents).
 */
export function unknownAgentMessage(name: string, known: readonly string[]): string {
  const close = closestName(name, known);
  return `unknown agent ${JSON.stringify(name)} (${close === undefined ? '' : `did you mean ${close}? `}known: ${known.length > 0 ? known.join(', ') : 'none'})`;
}

/** The one name of `names` within two edits of `name` (fewer than half its length), closer than any other; else undefined. */
export function closestName(name: string, names: readonly string[]): string | undefined {
  const limit = Math.min(2, Math.ceil(name.length / 2) - 1);
  let best: string | undefined;
  let bestDistance = limit + 1;
  let tied = false;
  for (const candidate of names) {
    // The distance is at least the difference in length: skip the table (an unbounded name from outside).
    if (Math.abs(candidate.length - name.length) > limit) continue;
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance, tied] = [candidate, distance, false];
    else if (distance === bestDistance) tied = true;
  }
  return tied ? undefined : best;
}

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: optimal string alignment. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * An optimistic append lost: another writer advanced the thread first. The loser stops; it never
 * overwrites.
 */
export class VersionConflictError extends SwitchyardError {
  constructor(
    readonly threadId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`thread ${threadId} is at version ${actualVersion}, expected ${expectedVersion}`);
  }
}

/**
 * The kinds of {@link InvalidStateError} that have a name of their own (the `code` of an HTTP
 * error body or a NATS reply, see {@link RefusalCode}; any other is `conflict`):
 * - `already_answered`: the response names a request that was answered already (by this client,
 *   whose reply was lost, or by another)
 * - `not_open_request`: the response names a request that is not the thread's open one
 * - `not_waiting`: the thread waits for no human
 * - `thread_ended`: the thread ended; it takes no control or answer
 * - `thread_exists_other_agent` / `_input` / `_callback_url`: a relaunch (or an inbound hook's
 *   delivery sent again, or a NATS trigger naming a thread id) names a thread launched with another
 *   agent, input or callback URL (a run or a pipeline's step naming a thread of another agent:
 *   `thread_exists_other_agent`)
 */
export type StateConflict = (typeof STATE_CONFLICTS)[number];

/** Every {@link StateConflict}. */
export const STATE_CONFLICTS = [
  'already_answered',
  'not_open_request',
  'not_waiting',
  'thread_ended',
  'thread_exists_other_agent',
  'thread_exists_other_input',
  'thread_exists_other_callback_url',
] as const;

/** The thread cannot take this operation in its current status (e.g. responding to a done thread). */
export class InvalidStateError extends SwitchyardError {
  constructor(
    message: string,
    readonly threadId: string,
    readonly status: string,
    /** Its kind, when it has a name of its own. */
    readonly conflict?: StateConflict,
  ) {
    super(message);
  }
}

/**
 * The store cannot do what was asked of the thread (a store without `ThreadStore.delete` cannot
 * delete threads): a limit of the deployment, not of the thread, so trying again does not help.
 * HTTP 409, as the other {@link InvalidStateError}s.
 */
export class NotSupportedError extends InvalidStateError {}

/**
 * The thread already ended (`done`, `failed` or `cancelled`): it takes no event after its end, so
 * an append (a control, a late step) is refused and nothing is written. A control asked of an ended
 * thread gets this answer (code `thread_ended`, HTTP 409), however late it finds out (a cancel that
 * lost the race to the final of the step in progress, or of another process).
 */
export class ThreadEndedError extends InvalidStateError {
  constructor(
    threadId: string,
    /** How it ended. */
    readonly ended: 'done' | 'failed' | 'cancelled',
    /** What was refused, appended to the message (`it cannot be cancelled`). */
    refused = 'it takes no event after its end',
  ) {
    super(`thread ${threadId} already ended (${ended}); ${refused}`, threadId, ended, 'thread_ended');
  }
}

/**
 * Why a request was refused, the same on every surface that answers requests (the `code` of an
 * HTTP error body, of a NATS thread reply, of a NATS trigger's error reply), as {@link refusalCodeOf}
 * names it: `bad_request`, `not_found`, `payload_too_large` (a thread its store cannot hold; a
 * surface also says so of a body or payload over its limit),
 * `unavailable` (the store or bus cannot serve now, or the runtime stops: try again), `internal`,
 * and for a conflict (the thread cannot take it now) its kind ({@link StateConflict}) when it has
 * a name of its own, else `conflict`.
 */
export type RefusalCode = 'bad_request' | 'not_found' | 'conflict' | StateConflict | 'payload_too_large' | 'unavailable' | 'internal';

/** A {@link RefusalCode} coarsely: a conflict of any kind is `conflict` (HTTP's 409), any other code its own. */
export type RefusalKind = Exclude<RefusalCode, StateConflict>;

/** The code of a request refused with `error`: the one mapping every surface uses (see {@link RefusalCode}). */
export function refusalCodeOf(error: unknown): RefusalCode {
  if (error instanceof ThreadTooLargeError) return 'payload_too_large';
  if (error instanceof InvalidInputError) return 'bad_request';
  if (error instanceof NotFoundError) return 'not_found';
  if (error instanceof InvalidStateError) return error.conflict ?? 'conflict';
  if (error instanceof VersionConflictError) return 'conflict';
  return isUnavailable(error) ? 'unavailable' : 'internal';
}

/** The {@link RefusalKind} of a code: `conflict` for each {@link StateConflict}. */
export function refusalKindOf(code: RefusalCode): RefusalKind {
  return isStateConflict(code) ? 'conflict' : code;
}

function isStateConflict(code: string): code is StateConflict {
  return (STATE_CONFLICTS as readonly string[]).includes(code);
}

/** A store, bus or other system component failed. */
export class SystemError extends SwitchyardError {}

/**
 * Stored data that is not what was written (a damaged thread file, a foreign value in a bucket):
 * unlike an unreachable store, trying again does not help.
 */
export class CorruptDataError extends SystemError {}

/**
 * The runtime closed (`Runtime.close`) or drains (`Runtime.drain`): it takes no new work, and once
 * closed what waited on one of its threads (`settled`, `run`, `watch`) is released with this error,
 * as nothing moves the thread in this process any more. A {@link SystemError}: another process (or
 * this one restarted) can serve the request; HTTP answers 503.
 */
export class RuntimeClosedError extends SystemError {
  constructor(state: 'closed' | 'draining' = 'closed') {
    super(state === 'closed' ? 'the runtime is closed' : 'the runtime is draining and takes no new work');
  }
}

/**
 * A stored thread whose stored form is damaged (a line of its file is not events): it is left out
 * of listings, and reading or changing it fails with this error until it is repaired. The HTTP
 * API answers 500 with {@link UnreadableThreadError.answer}, which names the thread and what is
 * wrong but not where it is stored; the message (for the log) says where.
 */
export class UnreadableThreadError extends CorruptDataError {
  constructor(
    readonly threadId: string,
    message: string,
    /** What to tell a client: the thread and what is wrong, never a path. */
    readonly answer: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Whether `error` says the store or bus could not serve for now (a {@link SystemError} other than
 * {@link CorruptDataError}), so the same request may go through later: the HTTP API answers 503,
 * and the outcome of a call that ran is written again. Corrupt data is not: trying again reads it
 * the same.
 */
export function isUnavailable(error: unknown): boolean {
  return error instanceof SystemError && !(error instanceof CorruptDataError);
}

/** Type guard for switchyard errors. */
export function isSwitchyardError(value: unknown): value is SwitchyardError {
  return value instanceof SwitchyardError;
}

/** zod issues as `path: message` lines (`(root)` for the whole value): one spelling everywhere. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issueMessage(issue)}`);
}

/**
 * An issue's message; an unknown key's said without zod's colon (`unknown key "currency"`): its
 * `Unrecognized key: "currency"` reads as a `key: value` pair to the text redaction, which would
 * hide the name the model is told to drop.
 */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'unrecognized_keys') return issue.message;
  return `unknown ${issue.keys.length === 1 ? 'key' : 'keys'} ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
}

/**
 * `text` cut to its first `max` characters, `…` marking the cut (never between the two halves of a
 * surrogate pair): one way to bound a message everywhere.
 */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = max > 0 && (text.charCodeAt(max - 1) & 0xfc00) === 0xd800 ? max - 1 : max;
  return `${text.slice(0, end)}…`;
}

/**
 * The code point at `index` of `text` as a message names it (`U+201C`): what a setting holds that it
 * may not, said without quoting the value (a key, a token).
 */
export function codePointName(text: string, index: number): string {
  return `U+${(text.codePointAt(index) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** `text` as a sentence followed by another: a full stop added unless it ends in one (or `!`, `?`, `…`). */
export function asSentence(text: string): string {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

/** Longest JSON text of a value {@link describeValue} quotes. */
const MAX_DESCRIBED_CHARS = 60;

/**
 * A value as a message about a wrong option shows it: a number as it is (`5`, `NaN`), `null` and
 * `undefined` by name, a string, boolean or BigInt as its JSON (cut short) and its type
 * (`"5", a string`), anything else by its kind (`a plain object`, `an array`, `an instance of Map`).
 * So a string that spells a number (one read from `process.env`) is not taken for that number.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return String(value);
    case 'undefined':
      return 'undefined';
    case 'string':
      return `${clipText(JSON.stringify(value), MAX_DESCRIBED_CHARS)}, a string`;
    case 'boolean':
      return `${value}, a boolean`;
    case 'bigint':
      return `${clipText(value.toString(), MAX_DESCRIBED_CHARS)}n, a BigInt`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) return 'a plain object';
  const name: unknown = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'an object';
}

/**
 * Throws a {@link ConfigError} `<owner>: <option> must be <rule> (got <value>)<after>` unless `value`
 * is a number `ok` takes: one spelling for the numeric options of every definition.
 */
export function checkNumber(owner: string, option: string, value: unknown, rule: string, ok: (n: number) => boolean, after = ''): void {
  if (typeof value !== 'number' || !ok(value)) throw new ConfigError(`${owner}: ${option} must be ${rule} (got ${describeValue(value)})${after}`);
}

/** A short message for any thrown value; never throws (a value JSON cannot hold is named by its kind). */
/**
 * What `run` returns (or what its promise gives) as a promise, a synchronous throw made a
 * rejection, as an async function's would be: for hot paths that return a promise rather than
 * await it in an async function of their own (which would suspend a frame on every call).
 */
export function promiseOf<T>(run: () => T | PromiseLike<T>): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error);
  }
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    // Circular, a BigInt, a throwing toJSON or toString: what kind of value it was.
    return Object.prototype.toString.call(error);
  }
}

/** Causes followed after the thrown value itself, by {@link describeError}. */
const MAX_CAUSES = 4;
/** Inner errors of an AggregateError that {@link describeError} names; the rest are counted. */
const MAX_INNER = 5;
/** How deep {@link describeError} goes into AggregateErrors within AggregateErrors. */
const MAX_NESTING = 2;
/** Longest part (a message, an inner error) {@link describeError} keeps of a value with a cause, so a long message leaves room for its cause. */
const MAX_PART = 200;

/**
 * A message for a thrown value with what caused it, for a tool's failure: its message (as
 * {@link messageOf}), its `code` when the message does not say it, an AggregateError's inner
 * errors in brackets, then each `cause` after a colon, a few levels deep. A cause that says
 * nothing new (its text already said) or loops back is left out. `fetch failed` becomes
 * `fetch failed: connect ECONNREFUSED 127.0.0.1:8080`. Not capped as a whole: the caller caps it.
 */
export function describeError(error: unknown, clean: (text: string) => string = (text) => text): string {
  // A thrown null or undefined has no chain to follow: it is named (`null`), not left blank.
  if (error === null || error === undefined) return messageOf(error);
  return chainText(error, new Set(), 0, clean);
}

/** `error` and its causes, skipping what `seen` holds (and adding to it); each part `clean`ed before it is cut. */
function chainText(error: unknown, seen: Set<unknown>, nesting: number, clean: (text: string) => string): string {
  const parts: string[] = [];
  let said = '';
  for (let at: unknown = error, depth = 0; at !== undefined && at !== null && depth <= MAX_CAUSES && !seen.has(at); depth++) {
    seen.add(at);
    const text = clean(ownText(at, seen, nesting, clean));
    if (depth === 0 || !said.includes(text)) {
      parts.push(text);
      said += `\n${text}`;
    }
    at = at instanceof Error ? at.cause : undefined;
  }
  return parts.length === 1 ? parts[0]! : parts.map(clipPart).join(': ');
}

/** What a thrown value says of itself: its message, its code, an AggregateError's inner errors (each with its own causes). */
function ownText(error: unknown, seen: Set<unknown>, nesting: number, clean: (text: string) => string): string {
  if (!(error instanceof Error)) return messageOf(error);
  const message = messageOf(error);
  const { code } = error as { code?: unknown };
  const coded = typeof code === 'string' && code !== '' && !message.includes(code) ? `${message} (${code})` : message;
  const inner = (error as { errors?: unknown }).errors;
  if (!Array.isArray(inner) || inner.length === 0 || nesting >= MAX_NESTING) return coded;
  const named = inner
    .slice(0, MAX_INNER)
    .filter((e) => e !== undefined && e !== null && !seen.has(e))
    .map((e) => clipPart(chainText(e, seen, nesting + 1, clean)));
  const more = inner.length > MAX_INNER ? `; and ${inner.length - MAX_INNER} more` : '';
  return `${coded} [${named.join('; ')}${more}]`;
}

function clipPart(text: string): string {
  return clipText(text, MAX_PART);
}
