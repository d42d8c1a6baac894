import type { Json } from '../thread/events.js';

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
const SECRET_PATTERNS: readonly RegExp[] = [
  /\bsk-[A-Za-z0-9_-]{16,}/g, // OpenAI-style keys
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub tokens
  /\bxox[abpr]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key ids
];

/** Replaces known secret values and secret-shaped substrings in a string. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(REDACTED);
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, REDACTED);
  return out;
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
function put(out: { [key: string]: Json }, key: string, item: Json): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
  else out[key] = item;
}
