import { createHmac } from 'node:crypto';

/**
 * `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<rawBody>")>`: how webhooks and callbacks are
 * signed. A string body is signed as its UTF-8 bytes; give the bytes as received (a `Uint8Array`)
 * to check a body that may not be plain UTF-8 text (one with a byte order mark, which decoding drops).
 */
export function signWebhook(rawBody: string | Uint8Array, secret: string, timestamp: number | string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}
