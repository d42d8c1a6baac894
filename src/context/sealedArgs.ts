import { ConfigError } from '../errors.js';
import type { Json } from '../thread/events.js';
import { isSecretKey, put, REDACTED, redactJson, redactText } from './redact.js';
import { openToken, SEALED_PREFIX, SEALED_VALUE, sealingKey, sealText } from './sealing.js';

/**
 * A tool call's arguments as a thread keeps them: what {@link redactJson} would redact (a value
 * under a secret-named key, a secret-shaped substring, one of the agent's `secrets`) replaced by
 * `sealed.v1.<token>`, sealed under a key derived from the runtime's seal secret (its own HKDF
 * info, not the webhook secret's purposes) and bound to the thread and the call: the thread stays
 * the only state (any process with the secret runs the call from it, after a restart or an
 * approval days later), and holds no secret in clear.
 *
 * A token's plaintext is JSON: a whole value (`"password": <token>`) opens to the value it was
 * (any JSON); a token within a string opens to the text it stood for.
 */
const ARGS_KEY_INFO = 'switchyard tool args v1';

/** Every sealed token in a string. */
const SEALED_TOKENS = /sealed\.v1\.([A-Za-z0-9_-]+)/g;

/** A character that may continue a token: a kept piece starting with one would read as part of it. */
const TOKEN_CHAR = /^[A-Za-z0-9_-]/;

/** Where a call's tokens are bound: sealed for one call of one thread, they open for it only. */
export interface SealBinding {
  readonly threadId: string;
  readonly callId: string;
}

/**
 * Arguments with their sealed values opened, and the strings each token opened to (`revealed`: what
 * the call's result, error and log lines must not show, as the agent's `secrets`; not its numbers
 * nor booleans, see `leavesOf`); or why they
 * did not open (never naming a value).
 */
export type OpenedArgs =
  | { readonly success: true; readonly data: Json; readonly revealed: readonly string[] }
  | { readonly success: false; readonly error: string };

/**
 * The seal secrets of a runtime as its option gives them: one, or a list whose first seals and
 * all open (a rotation: the current secret, then the ones it replaced). Each must be a string that
 * is not blank, as `SWITCHYARD_SEAL_SECRET` and the items of `SWITCHYARD_SEAL_SECRET_PREVIOUS`;
 * anything else is a {@link ConfigError} naming the item's place, never its value.
 */
export function sealSecretsOf(option: string | readonly string[] | undefined): readonly string[] {
  if (option === undefined) return [];
  const list = typeof option === 'string' ? [option] : option;
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError('sealSecret must be a string or a non-empty list of strings (the first seals, all open)');
  for (const [n, item] of list.entries()) {
    const place = list.length === 1 ? 'sealSecret' : `sealSecret item ${n + 1} of ${list.length}`;
    if (typeof item !== 'string' || item.trim() === '') throw new ConfigError(`${place} must be a string that is not blank`);
  }
  return [...new Set(list)];
}

/**
 * The paths (`password`, `items[0].token`, `note`) of what {@link redactJson} redacted: `redacted`
 * is its answer for `value`, which shares every branch where nothing was.
 */
export function redactedPaths(value: Json, redacted: Json, at = ''): string[] {
  if (value === redacted) return [];
  if (value === null || typeof value !== 'object' || redacted === null || typeof redacted !== 'object') return [at === '' ? '(the arguments)' : at];
  const paths: string[] = [];
  if (Array.isArray(value)) {
    const other = redacted as Json[];
    value.forEach((item, i) => paths.push(...redactedPaths(item, other[i]!, `${at}[${i}]`)));
  } else {
    const other = redacted as { [key: string]: Json };
    for (const key in value) paths.push(...redactedPaths(value[key]!, other[key]!, at === '' ? key : `${at}.${key}`));
  }
  return paths;
}

/**
 * `args` with each value and substring {@link redactJson} would redact with `secrets` sealed under
 * `secret` for `binding` (see {@link ARGS_KEY_INFO}); what it would keep is kept as it is. Rendered
 * with {@link maskSealed}, they read as `redactJson` writes them.
 */
export function sealArgs(args: Json, secret: string, secrets: readonly string[], binding: SealBinding): Json {
  const key = sealingKey(secret, ARGS_KEY_INFO);
  const seal = (plain: Json): string => cleanToken(JSON.stringify(plain), key, bindingOf(binding), secrets);
  return sealValue(args, secrets, seal);
}

function sealValue(value: Json, secrets: readonly string[], seal: (plain: Json) => string): Json {
  if (typeof value === 'string') return sealString(value, secrets, seal);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => sealValue(item, secrets, seal));
  const out: { [key: string]: Json } = {};
  for (const key in value) {
    const item = value[key]!;
    // As redactJson: a secret-named key's value goes whole, whatever it is.
    const sealed = isSecretKey(key) && item !== null && item !== '' ? seal(item) : sealValue(item, secrets, seal);
    put(out, key, sealed);
  }
  return out;
}

/**
 * A string with the pieces {@link redactText} replaces sealed: its answer split at each
 * `[REDACTED]` gives the pieces kept, and what lies between them in `text` is sealed. When that
 * does not line up (a `[REDACTED]` the text held itself, a replacement of another form, a kept
 * piece that would run on into a token, text that looks sealed already), the whole string is
 * sealed: never less hidden than `redactText` hides it.
 */
function sealString(text: string, secrets: readonly string[], seal: (plain: Json) => string): string {
  if (text.includes(SEALED_PREFIX)) return seal(text);
  const redacted = redactText(text, secrets);
  if (redacted === text) return text;
  const kept = redacted.split(REDACTED);
  const hidden = hiddenPieces(text, kept);
  if (hidden === undefined) return seal(text);
  return kept.reduce((out, piece, i) => (i === 0 ? piece : `${out}${seal(hidden[i - 1]!)}${piece}`), '');
}

/** What lies in `text` between the `kept` pieces, each not empty; undefined when they do not line up (see {@link sealString}). */
function hiddenPieces(text: string, kept: readonly string[]): string[] | undefined {
  if (!text.startsWith(kept[0]!)) return undefined;
  const hidden: string[] = [];
  let at = kept[0]!.length;
  for (let i = 1; i < kept.length; i++) {
    const piece = kept[i]!;
    const last = i === kept.length - 1;
    const end = last ? text.length - piece.length : text.indexOf(piece, at + 1);
    if (end <= at || (last && !text.endsWith(piece))) return undefined;
    if ((!last && piece === '') || TOKEN_CHAR.test(piece)) return undefined;
    hidden.push(text.slice(at, end));
    at = end + piece.length;
  }
  return hidden;
}

/**
 * A token of `plain` that no redaction pass rewrites (its base64url could hold `-sk-…` by chance):
 * sealed again with a fresh nonce until none does, so a thread keeps it as written.
 */
function cleanToken(plain: string, key: Buffer, binding: string, secrets: readonly string[]): string {
  for (;;) {
    const token = sealText(plain, key, binding);
    if (redactText(token, secrets) === token) return token;
  }
}

/**
 * `args` (as a thread recorded them) with every sealed token opened with the first of `secrets`
 * it opens with, for `binding`: what the tool runs with. Arguments without a token come back as
 * they are. A token that does not open (no seal secret here, another one, a token copied from
 * another call or thread, text the model wrote in a token's form) is an error value: a call never
 * runs with a token's text.
 */
export function openArgs(args: Json, secrets: readonly string[], binding: SealBinding): OpenedArgs {
  if (!holdsSealed(args)) return { success: true, data: args, revealed: NONE };
  if (secrets.length === 0) return { success: false, error: NO_SEAL_SECRET };
  const keys = secrets.map((secret) => sealingKey(secret, ARGS_KEY_INFO));
  const aad = bindingOf(binding);
  const revealed: string[] = [];
  const open = (token: string): Json | undefined => {
    for (const key of keys) {
      const plain = openToken(token, key, aad);
      if (plain === undefined) continue;
      const value = JSON.parse(plain) as Json;
      revealed.push(...leavesOf(value));
      return value;
    }
    return undefined;
  };
  const opened = openValue(args, open);
  return opened === undefined ? { success: false, error: UNOPENED } : { success: true, data: opened, revealed };
}

const NO_SEAL_SECRET = 'they hold sealed values and this process has no seal secret to open them: set SWITCHYARD_SEAL_SECRET (or the runtime option sealSecret) to the secret they were sealed with';
const UNOPENED =
  'they hold sealed values that do not open with this process’s seal secret nor a previous one (SWITCHYARD_SEAL_SECRET changed since the call was decided? list the one it replaced in SWITCHYARD_SEAL_SECRET_PREVIOUS)';

const NONE: readonly string[] = [];

/** What `opened`'s sealed values opened to (none when they did not open, or when there are none: a call refused them). */
export function revealedBy(opened: OpenedArgs | undefined): readonly string[] {
  return opened?.success === true ? opened.revealed : NONE;
}

/**
 * The string leaves of a value a token opened to, as a tool could echo them. Never its numbers
 * nor booleans: redacted as text, `5432` or `true` would go wherever they stand (a port in a
 * message, a log line's `"ok":true`, which would no longer be JSON), and they are not what a
 * secret is; a string replaced inside a JSON string keeps the line JSON.
 */
function leavesOf(value: Json): string[] {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object') return [];
  return (Array.isArray(value) ? value : Object.values(value)).flatMap(leavesOf);
}

/** `value` with its tokens opened, or undefined when one does not. */
function openValue(value: Json, open: (token: string) => Json | undefined): Json | undefined {
  if (typeof value === 'string') return openString(value, open);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const items = value.map((item) => openValue(item, open));
    return items.includes(undefined) ? undefined : (items as Json[]);
  }
  const out: { [key: string]: Json } = {};
  for (const key in value) {
    const item = openValue(value[key]!, open);
    if (item === undefined) return undefined;
    put(out, key, item);
  }
  return out;
}

function openString(text: string, open: (token: string) => Json | undefined): Json | undefined {
  if (!text.includes(SEALED_PREFIX)) return text;
  const whole = SEALED_VALUE.exec(text);
  if (whole !== null) return open(whole[1]!);
  let failed = false;
  const opened = text.replace(SEALED_TOKENS, (_, token: string) => {
    const piece = open(token);
    failed ||= typeof piece !== 'string';
    return typeof piece === 'string' ? piece : '';
  });
  return failed ? undefined : opened;
}

/** Whether any string of `value` holds a sealed value's prefix (the cheap test before opening). */
export function holdsSealed(value: Json): boolean {
  if (typeof value === 'string') return value.includes(SEALED_PREFIX);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(holdsSealed);
  for (const key in value) if (holdsSealed(value[key]!)) return true;
  return false;
}

/** Text (a rendered value, a question quoting arguments) with every sealed token shown as `mark` (`[REDACTED]`). */
export function maskSealed(text: string, mark: string = REDACTED): string {
  return text.includes(SEALED_PREFIX) ? text.replace(SEALED_TOKENS, mark) : text;
}

/** Recorded arguments as a judge reads them: the same value, each sealed token `[REDACTED]` (as the model sees it). */
export function maskedArgs<T extends Json>(args: T): T {
  return holdsSealed(args) ? (JSON.parse(maskSealed(JSON.stringify(args))) as T) : args;
}

/** Recorded arguments as a question or a message to people quotes them: JSON, each sealed token as `[REDACTED]`. */
export function shownArgs(args: Json): string {
  return maskSealed(JSON.stringify(args));
}

function bindingOf({ threadId, callId }: SealBinding): string {
  return `tool args\u0000${threadId}\u0000${callId}`;
}
