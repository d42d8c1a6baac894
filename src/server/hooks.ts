import type { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { InvalidInputError, InvalidStateError, UnknownAgentError, VersionConflictError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Runtime, ThreadView } from '../runtime/runtime.js';
import { isJson, launchedWithOtherInput } from '../thread/events.js';
import { keyedThreadId, MAX_OUTSIDE_KEY_CHARS } from '../thread/keyedThreadId.js';
import { bodyText, JSON_CONTENT_TYPE, readBodyBytes, refuseUnknownQuery } from './requestBodies.js';
import { createReplayGuard } from './replayGuard.js';
import { verifyWebhookSignature, WEBHOOK_HEADERS } from './webhooks.js';

/** Options of {@link mountHooks}. */
export interface HookOptions {
  /** The HMAC secret senders sign with; an empty string turns the route off (404). */
  readonly secret: string;
  /** The secrets `secret` replaced (a rotation): deliveries signed with them are taken too. @default none */
  readonly previousSecrets?: readonly string[];
  /** How far a delivery's timestamp may be from now. */
  readonly toleranceSeconds: number;
  readonly logger: Logger;
}


/** The thread a delivery launches: the same for every retry of it. */
export function hookThreadId(deliveryId: string): string {
  return keyedThreadId('hook-', deliveryId);
}

/**
 * `POST /hooks/:agent`: an inbound webhook launches a thread of `agent` with the JSON body as its
 * input. The delivery is signed as switchyard signs its own webhooks (`X-Switchyard-Timestamp`,
 * `X-Switchyard-Signature: sha256=HMAC(secret, "<timestamp>.<body>")`, a timestamp within the
 * tolerance), so it needs no bearer token, and carries an id (`X-Switchyard-Delivery`): a retry of
 * the same delivery answers 200 with the thread it launched, the first one 201. A signature this
 * process took for one delivery is refused (409, naming that delivery) under another id while it
 * is fresh: the id is not signed, so a replay could otherwise launch again. The signatures taken
 * are kept in this process's memory only (forgotten on a restart).
 *
 * Errors: 415 (not JSON), 400 (a body Content-Length announced is empty: a host's body parser
 * read it first), 401 (signature), 400 (a query parameter: the route takes none; no delivery id,
 * body not UTF-8 JSON, input refused by the agent), 404 (hooks off, no such agent), 409
 * (the delivery id was used with another body or agent; the signature was taken for another
 * delivery: a replay), 413 (the body limit, before all of these;
 * or an input the thread's store cannot hold).
 */
export function mountHooks(app: Hono, runtime: Runtime, options: HookOptions): void {
  const { secret, previousSecrets = [], toleranceSeconds, logger } = options;
  // Previous secrets verify only beside a current one: without it, hooks are off.
  const secrets = [secret, ...previousSecrets];
  const replays = createReplayGuard();
  app.post('/hooks/:agent', async (c) => {
    if (secret === '') throw new HTTPException(404, { message: 'inbound hooks are off: start the server with a hook secret (--hook-secret or SWITCHYARD_HOOK_SECRET)' });
    const type = c.req.header('content-type') ?? '';
    if (!JSON_CONTENT_TYPE.test(type)) throw new HTTPException(415, { message: `a hook must be sent with Content-Type: application/json (got ${type === '' ? 'none' : type.slice(0, 100)})` });
    // The sender signed the bytes it sent: decoding first would drop a byte order mark (a 401).
    const bytes = await readBodyBytes(c);
    const headers = { timestamp: c.req.header(WEBHOOK_HEADERS.timestamp), signature: c.req.header(WEBHOOK_HEADERS.signature) };
    // A byte order mark is no content: a signature over the text after it verifies too.
    const signed = verifyWebhookSignature(bytes, headers, secrets, toleranceSeconds) || (startsWithBom(bytes) && verifyWebhookSignature(bytes.subarray(3), headers, secrets, toleranceSeconds));
    if (!signed) {
      logger.warn({ path: c.req.path }, 'inbound hook refused: bad or stale signature');
      throw new HTTPException(401, { message: `unauthorized: ${WEBHOOK_HEADERS.signature} must be sha256=HMAC(secret, "<${WEBHOOK_HEADERS.timestamp}>.<body>") with a timestamp within ${toleranceSeconds} s` });
    }
    // The route takes no query parameter: after the signature, as the bearer check answers first elsewhere.
    refuseUnknownQuery(c, []);
    const deliveryId = c.req.header(WEBHOOK_HEADERS.delivery)?.trim() ?? '';
    if (deliveryId === '' || deliveryId.length > MAX_OUTSIDE_KEY_CHARS) {
      throw new InvalidInputError(`a hook needs the ${WEBHOOK_HEADERS.delivery} header: the delivery's id, 1 to ${MAX_OUTSIDE_KEY_CHARS} characters (a retry sends the same id)`);
    }
    const replayOf = replays.usedBy(headers.signature!.trim().toLowerCase(), deliveryId, (Number(headers.timestamp) + toleranceSeconds) * 1000, Date.now());
    if (replayOf !== undefined) {
      logger.warn({ path: c.req.path, delivery: deliveryId, signedFor: replayOf }, 'inbound hook refused: its signature was used by another delivery');
      // 409, not 401: the signature is good, and a sender reads 401 as a wrong secret.
      throw new HTTPException(409, { message: `a replay: this signature was taken for delivery ${replayOf} first, and stands for that delivery only; sign each delivery with its own ${WEBHOOK_HEADERS.timestamp}` });
    }
    const raw = bodyText(bytes, 'the hook body');
    let input: unknown;
    try {
      input = JSON.parse(raw);
    } catch (error) {
      throw new InvalidInputError('the hook body is not valid JSON', [error instanceof Error ? error.message : String(error)]);
    }
    const agent = c.req.param('agent');
    if (!runtime.agents.has(agent) && !runtime.pipelines.has(agent)) throw new UnknownAgentError(agent, [...runtime.agents.keys(), ...runtime.pipelines.keys()]);
    const threadId = hookThreadId(deliveryId);
    const existing = await runtime.get(threadId);
    if (existing !== undefined) return c.json(sameDelivery(existing, agent, input, deliveryId), 200);
    let view: ThreadView;
    try {
      // Only a delivery whose create won answers 201: racing ones all found the id free above.
      view = await runtime.launch(agent, input, { threadId, source: { kind: 'webhook', triggerId: deliveryId }, onlyNew: true });
    } catch (error) {
      // Two deliveries of one id raced and the other created the thread.
      if (!(error instanceof VersionConflictError)) throw error;
      const raced = await runtime.get(threadId);
      if (raced === undefined) throw error;
      return c.json(sameDelivery(raced, agent, input, deliveryId), 200);
    }
    logger.info({ threadId, agent, delivery: deliveryId }, 'thread launched by an inbound hook');
    c.header('Location', `/threads/${encodeURIComponent(view.id)}`);
    return c.json(view, 201);
  });
}

/** The thread of a delivery seen before, unless its id was reused with another agent or body. */
function sameDelivery(existing: ThreadView, agent: string, input: unknown, deliveryId: string): ThreadView {
  // As a relaunch of POST /threads compares: JSON values, keys in any order.
  const sameBody = isJson(input) && !launchedWithOtherInput(existing.events, input);
  if (existing.agent !== agent || !sameBody) {
    throw new InvalidStateError(
      `delivery ${deliveryId} already launched thread ${existing.id} (${existing.agent}) with ${existing.agent === agent ? 'another body' : 'another agent'}; a new delivery needs a new id`,
      existing.id,
      existing.status,
      existing.agent === agent ? 'thread_exists_other_input' : 'thread_exists_other_agent',
    );
  }
  return existing;
}

/** Whether `bytes` start with UTF-8's byte order mark (EF BB BF). */
function startsWithBom(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}
