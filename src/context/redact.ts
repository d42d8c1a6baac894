import type { Json } from '../thread/events.js';

/** What replaces a secret. */
export const REDACTED = '[REDACTED]';

const SECRET_KEY = /^(api[_-]?key|apikey|password|passwd|secret|token|access[_-]?token|refresh[_-]?token|authorization|client[_-]?secret|private[_-]?key)$/i;
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

/** Redacts a JSON value: values under secret-named keys and secret-shaped strings anywhere. */
export function redactJson(value: Json, secrets: readonly string[] = []): Json {
  if (typeof value === 'string') return redactText(value, secrets);
  if (Array.isArray(value)) return value.map((item) => redactJson(item, secrets));
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = SECRET_KEY.test(key) && item !== null && item !== '' ? REDACTED : redactJson(item, secrets);
    }
    return out;
  }
  return value;
}
