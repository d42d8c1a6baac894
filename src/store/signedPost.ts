import type { Clock } from '../clock.js';
import { signWebhook } from './deliverySignature.js';
import { answerError, noAnswerError, type DeliveryTarget } from './deliveryTarget.js';
import type { AttemptResult } from './retryDelivery.js';

/** The headers of a signed delivery: webhooks and callbacks alike (`WEBHOOK_HEADERS`, `CALLBACK_HEADERS`). */
export const DELIVERY_HEADERS = {
  timestamp: 'X-Switchyard-Timestamp',
  signature: 'X-Switchyard-Signature',
  event: 'X-Switchyard-Event',
  delivery: 'X-Switchyard-Delivery',
} as const;

/** What a sender posts its deliveries with. */
export interface SignedPoster {
  readonly fetch: typeof fetch;
  /** The timestamps signed. */
  readonly clock: Clock;
  /** Time allowed for one attempt. */
  readonly timeoutMs: number;
  /** The HMAC secret it is signed with. */
  readonly secret: string;
}

/**
 * One attempt of a delivery: a POST of `body` (JSON) to `target`, signed now (a late retry does
 * not arrive with a stale timestamp), with `event` and the delivery's `id` in the headers; cut
 * short when `signal` aborts or the attempt's time is up. The receiver's status, or why there was
 * none (`noAnswerError`: the cause fetch gives, or the attempt's timeout); never rejects.
 */
export async function postSigned(
  target: Pick<DeliveryTarget, 'url' | 'authorization'>,
  delivery: { readonly body: string; readonly event: string; readonly id: string },
  poster: SignedPoster,
  signal: AbortSignal,
): Promise<AttemptResult> {
  const { body } = delivery;
  const timestamp = String(Math.floor(poster.clock.now() / 1000));
  // A timer of our own, not AbortSignal.timeout(): held only by AbortSignal.any(), Node 20's
  // timeout signal can be garbage collected before it fires (nodejs/node#57736), and the attempt
  // would then wait on a silent receiver for ever.
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), poster.timeoutMs).unref();
  try {
    const response = await poster.fetch(target.url, {
      method: 'POST',
      // A redirect is not followed: fetch would turn the POST into a GET of another page (a
      // login page answering 200) and it would count as delivered. A 3xx is a refusal.
      redirect: 'manual',
      headers: {
        'content-type': 'application/json',
        ...(target.authorization === undefined ? {} : { authorization: target.authorization }),
        [DELIVERY_HEADERS.timestamp]: timestamp,
        [DELIVERY_HEADERS.signature]: signWebhook(body, poster.secret, timestamp),
        [DELIVERY_HEADERS.event]: delivery.event,
        [DELIVERY_HEADERS.delivery]: delivery.id,
      },
      body,
      signal: AbortSignal.any([timeout.signal, signal]),
    });
    await response.body?.cancel().catch(() => undefined);
    return response.ok ? { status: response.status } : { status: response.status, error: answerError(response.status, response.headers.get('location'), target.url) };
  } catch (error) {
    return { error: noAnswerError(error, poster.timeoutMs) };
  } finally {
    clearTimeout(timer);
  }
}
