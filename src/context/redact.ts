import type { HumanResponse, Json } from '../thread/events.js';
import { MASK, redactUrl } from './redactUrl.js';

/** What replaces a secret. */
export const REDACTED = '[REDACTED]';

const SECRET_KEY = /^(api[_-]?key|apikey|password|passwd|secret|token|access[_-]?token|refresh[_-]?token|authorization|client[_-]?secret|private[_-]?key)$/i;
const SECRET_WORD = /api[_-]?key|apikey|password|passwd|secret|token|authorization|credential|cookie|private[_-]?key/i;

/**
 * Whether values under this key are secrets in thread data: its whole name is a secret's name
 * (`token`, `api_key`, `client_secret`…). Exact on purpose: recorded arguments are what tools run
 * with, so a broader rule would rewrite fields like `maxTokens`.
 */
export function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(name);
}

/**
 * Whether a key may hold a secret anywhere in its name (`sessionCookie`, `x-api-key`…): the
 * broader rule for what is only shown (inspection summaries, machine definitions), never run.
 */
export function mayHoldSecret(name: string): boolean {
  return SECRET_WORD.test(name);
}
/**
 * Whether a query parameter of this name (as a receiver reads it: percent- and form-decoded) holds a
 * secret: its name says so anywhere (`mayHoldSecret`: `token`, `api_key`, `apiKey`, `X-Api-Key`,
 * `access_token`, `client_secret`…), or it is one of the short names receivers authenticate by
 * (`sig`, `signature`, `key`, `code`, `auth`, `jwt`…, `X-Amz-Signature`). The broad rule, where thread data uses the exact
 * one (`isSecretKey`): a sealed value is opened before it is sent, so sealing one too many costs
 * nothing but its readability in the thread; a URL in text with one is masked whole.
 */
export function isSecretParam(name: string): boolean {
  return mayHoldSecret(name) || URL_SECRET_NAME.test(name) || wordsOf(name).some((word) => URL_SECRET_WORDS.has(word));
}

/**
 * Azure Functions' `code`: a secret as a URL parameter only as the whole name (`zip_code` is not).
 * The other short names receivers authenticate by are words of {@link URL_SECRET_WORDS}.
 */
const URL_SECRET_NAME = /^code$/i;

/**
 * Words that make a parameter name a secret's wherever they stand in it, alone or not: Azure's SAS
 * `sig`, Google's `key`, Firebase's `auth`, Shopify's `hmac`, a receiver's `signature`, `jwt`,
 * `pass`, `pwd` (`X-Amz-Signature`, `hook_sig`, `access_key`, `AccessKey`, `signing_key`,
 * `auth_code`, `x-hmac`), unlike `code` (`zip_code`), one only alone.
 */
const URL_SECRET_WORDS: ReadonlySet<string> = new Set(['sig', 'signature', 'key', 'auth', 'hmac', 'pass', 'pwd', 'jwt', 'passphrase', 'passcode', 'accesskey', 'authkey', 'secretkey']);

/** A name's words, lower case: split at `-`, `_`, `.`, blanks and camelCase humps (`AccessKey`: access, key). */
function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[-_.\s]+/)
    .filter((word) => word !== '');
}

/**
 * Words that make the name of a pair in text (`name=value`, `name: value`, `"name":"value"`) a
 * secret's when it is the name's last (`db_password`, `X-Amz-Signature`, `sessionToken`). Whole
 * words: `maxTokens`, `tokenizer`, `signal` and `author` are not.
 */
const TEXT_SECRET_WORDS: ReadonlySet<string> = new Set([
  ...['password', 'passwd', 'pwd', 'pass', 'passphrase', 'passcode', 'secret', 'token', 'apikey', 'signature', 'sig', 'credential', 'credentials'],
  ...['authorization', 'auth', 'cookie', 'hmac', 'jwt', 'accesskey', 'authkey', 'secretkey', 'privatekey'],
]);
/** The words before a last `key` that make a name a secret's (`api_key`, `AccessKey`); `key` alone is one too, `idempotencyKey` is not. */
const KEY_OWNERS: ReadonlySet<string> = new Set(['api', 'access', 'secret', 'private', 'signing', 'client', 'auth', 'master', 'encryption', 'session', 'subscription', 'license']);

/**
 * Whether the value after this name in text is a secret (`apiKey=…`, `password: …`, a JSON line's
 * `"token":"…"` at any depth): its last word is a secret's (`password`, `token`, `secret`,
 * `signature`, `auth`, `credential`, `cookie`…), or `key` alone or after `api`, `access`, `private`…
 */
function namesSecret(name: string): boolean {
  const words = wordsOf(name);
  const last = words.length - 1;
  if (last < 0) return false;
  if (TEXT_SECRET_WORDS.has(words[last]!)) return true;
  return words[last] === 'key' && (last === 0 || KEY_OWNERS.has(words[last - 1]!));
}

/** The last three characters before `end`, lower case, as one number (a name's ending, looked up before its words are). */
function endingAt(text: string, end: number): number {
  return ((text.charCodeAt(end - 3) | 32) << 16) | ((text.charCodeAt(end - 2) | 32) << 8) | (text.charCodeAt(end - 1) | 32);
}
/** How the names {@link namesSecret} takes end: a separator after any other name costs one lookup. */
const SECRET_ENDINGS: ReadonlySet<number> = new Set([...TEXT_SECRET_WORDS, 'key'].map((word) => endingAt(word, word.length)));

const SECRET_PATTERNS: readonly RegExp[] = [
  /\bsk-[A-Za-z0-9_-]{16,}/g, // OpenAI-style keys
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub tokens
  /\bxox[abpr]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key ids
];
/** What one of {@link SECRET_PATTERNS} needs: most text has none, and skips them. */
const SHAPED = /sk-|Bearer|gh[pousr]_|xox[abpr]-|AKIA/;

/** A URL in text: a scheme, `://`, and what follows up to a blank, a quote, `<>` or a backslash (a JSON escape). */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>\\]+/gi;
/** After `scheme://`: a userinfo with a password (which may hold `/`, `?`, `#`), or a token without one. */
const USERINFO = /^(?:[^/?#@:\s]*:[^@\s]*|[^/?#@:\s]+)@/;
/** A query parameter's name in a URL. */
const QUERY_NAME = /[?&]([^=&#?/]+)=/g;

/** A character of a pair's name (`--db.password`, `X-Amz-Signature`, `api_key`). */
const NAME_CHAR = /[\w.-]/;
/**
 * The value after a secret's name and its separator: double-quoted (JSON escapes in it), or bare
 * after an optional quote, escaped or not (an auth scheme word with its credential: `Basic dXNl…`).
 */
const PAIR_VALUE = /[ \t]*(?:"((?:[^"\\\n]|\\.)*)"|(\\?["']?)((?:(?:Basic|Bearer|Digest|Token)[ \t]+)?[^\s"'\\&,;()[\]{}<>]+))/y;
/** A bare word after a colon (`password: Required`, `token: the token expired`): prose, not a secret. */
const PROSE_WORD = /^[A-Za-z]{1,11}$/;

/**
 * Replaces known secret values and secret-shaped text in a string: the `secrets` given; `sk-…`,
 * `Bearer …`, `ghp_…`, `xox?-…` and `AKIA…` tokens; a URL with a userinfo or a secret-named query
 * parameter ({@link isSecretParam}), masked as `redactUrl` masks it (`https://user:***@host/?token=***`);
 * and the value of a pair whose name {@link namesSecret} (`apiKey=…`, `password: '…'`,
 * `"client_secret":"…"`), except a bare word of letters under 12 after a colon, prose. Each rule
 * runs only past a cheap test (a literal, `://`, a separator after a secret-like ending): text with
 * none of them comes back as it is, at about the cost of the tests (the hot path: every log line of
 * a thread passes here).
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(REDACTED);
  if (SHAPED.test(out)) for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, REDACTED);
  if (out.includes('://')) out = out.replace(URL_IN_TEXT, maskedUrl);
  return maskedPairs(out);
}

/** A URL found in text, masked by `redactUrl` when it holds a credential, else as it is. */
function maskedUrl(url: string): string {
  const rest = url.slice(url.indexOf('://') + 3);
  const credentials = USERINFO.test(rest) || [...rest.matchAll(QUERY_NAME)].some((found) => isSecretParam(found[1]!));
  return credentials ? redactUrl(url) : url;
}

/** `text` with the value of every pair whose name {@link namesSecret} replaced. */
function maskedPairs(text: string): string {
  let out = '';
  let done = 0;
  // Two cursors, each moved by indexOf (far cheaper than a loop over every character).
  let colon = text.indexOf(':');
  let equals = text.indexOf('=');
  while (colon !== -1 || equals !== -1) {
    const at = equals === -1 || (colon !== -1 && colon < equals) ? colon : equals;
    const masked = maskedAfter(text, at);
    if (masked !== undefined) {
      out += text.slice(done, at + 1) + masked;
      done = PAIR_VALUE.lastIndex;
    }
    const from = Math.max(at + 1, done);
    if (colon !== -1 && colon < from) colon = text.indexOf(':', from);
    if (equals !== -1 && equals < from) equals = text.indexOf('=', from);
  }
  return done === 0 ? text : out + text.slice(done);
}

/** The value after the separator at `at`, masked, when the name before it {@link namesSecret}; else undefined. Leaves `PAIR_VALUE.lastIndex` after the value. */
function maskedAfter(text: string, at: number): string | undefined {
  const named = nameBefore(text, at);
  if (named === undefined || !namesSecret(named.name)) return undefined;
  PAIR_VALUE.lastIndex = at + 1;
  const value = PAIR_VALUE.exec(text);
  return value === null ? undefined : maskedValue(value, text[at]!, named.jsonKey);
}

/**
 * The name a separator at `at` follows (blanks, and a key's closing quote, JSON-escaped or not,
 * between), when its ending may be a secret's; `jsonKey` when that quote is a JSON key's own (not
 * escaped): its value, if bare (a number), must stay JSON.
 */
function nameBefore(text: string, at: number): { readonly name: string; readonly jsonKey: boolean } | undefined {
  let end = at;
  while (end > 0 && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--;
  let jsonKey = false;
  if (text[end - 1] === '"') {
    end--;
    if (text[end - 1] === '\\') end--;
    else jsonKey = true;
  }
  if (end < 3 || !SECRET_ENDINGS.has(endingAt(text, end))) return undefined;
  let start = end;
  while (start > 0 && NAME_CHAR.test(text[start - 1]!)) start--;
  return { name: text.slice(start, end), jsonKey };
}

/**
 * The value matched after a secret's name and its separator (`:` or `=`), masked; undefined to
 * keep it. A JSON key's bare value (`"pin":1234`) becomes a string, so the line stays JSON.
 */
function maskedValue([matched, quoted, opening = '', bare]: RegExpExecArray, separator: string, jsonKey: boolean): string | undefined {
  const blanks = matched.slice(0, matched.length - matched.trimStart().length);
  if (quoted !== undefined) return quoted === '' || quoted === REDACTED ? undefined : `${blanks}"${REDACTED}"`;
  if (bare === undefined || bare === MASK) return undefined;
  // `password: Required`, `token: the token expired`: prose after a colon, not a secret (nor is
  // a JSON `true`, `false` or `null`).
  if (opening === '' && separator === ':' && PROSE_WORD.test(bare)) return undefined;
  return jsonKey && opening === '' ? `${blanks}"${REDACTED}"` : `${blanks}${opening}${REDACTED}`;
}

/**
 * A human's response as a thread records it: its answer and comment redacted as every other text of
 * the thread is ({@link redactText}: `secrets`, secret-shaped text); the rest as given. The same
 * object when there is nothing to redact.
 */
export function redactResponse(response: HumanResponse, secrets: readonly string[]): HumanResponse {
  const { answer, comment } = response;
  const redacted = { answer: answer === undefined ? undefined : redactText(answer, secrets), comment: comment === undefined ? undefined : redactText(comment, secrets) };
  if (redacted.answer === answer && redacted.comment === comment) return response;
  return { ...response, ...(answer === undefined ? {} : { answer: redacted.answer }), ...(comment === undefined ? {} : { comment: redacted.comment }) };
}

/**
 * Redacts a JSON value: values under secret-named keys and secret-shaped strings anywhere. Arrays
 * and objects are copied only where something in them is redacted: a value with nothing to redact
 * comes back as it is.
 */
export function redactJson(value: Json, secrets: readonly string[] = []): Json {
  if (typeof value === 'string') return redactText(value, secrets);
  if (value === null || typeof value !== 'object') return value;
  return Array.isArray(value) ? redactArray(value, secrets) : redactObject(value, secrets);
}

function redactArray(value: Json[], secrets: readonly string[]): Json[] {
  let out: Json[] | undefined;
  for (let i = 0; i < value.length; i++) {
    const item = redactJson(value[i]!, secrets);
    if (out === undefined && item !== value[i]) out = value.slice(0, i);
    out?.push(item);
  }
  return out ?? value;
}

function redactObject(value: { [key: string]: Json }, secrets: readonly string[]): { [key: string]: Json } {
  let out: { [key: string]: Json } | undefined;
  for (const key in value) {
    const item = value[key]!;
    const redacted = isSecretKey(key) && item !== null && item !== '' ? REDACTED : redactJson(item, secrets);
    if (out === undefined && redacted !== item) {
      out = {};
      // The keys before this one, unchanged, in their order.
      for (const earlier in value) {
        if (earlier === key) break;
        put(out, earlier, value[earlier]!);
      }
    }
    if (out !== undefined) put(out, key, redacted);
  }
  return out ?? value;
}

/**
 * Sets a key of a copy. JSON.parse makes `"__proto__"` an own key; assigning it would set the
 * copy's prototype instead, so that one is defined.
 */
export function put(out: { [key: string]: Json }, key: string, item: Json): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
  else out[key] = item;
}
