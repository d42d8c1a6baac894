import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { systemClock } from '../clock.js';
import { InvalidInputError, InvalidStateError, NotFoundError, RuntimeClosedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Runtime, ThreadView } from '../runtime/runtime.js';
import { awaitedOutcome } from '../runtime/watchThread.js';
import { incarnationOf, parseStreamEventId, streamEventIdOf, type StreamEventId } from '../thread/incarnation.js';
import { TERMINAL_STATUSES, unrecordedCall } from '../thread/state.js';
import { integerParam, refuseUnknownQuery } from './requestBodies.js';
import { SHUTTING_DOWN } from './httpRuntime.js';
import { sseLifetime } from './sse.js';

/** What {@link streamThreadEvents} needs. */
export interface EventStreamOptions {
  readonly runtime: Runtime;
  readonly logger: Logger;
  readonly heartbeatMs: number;
  /** Aborted when the server shuts down: open streams end. */
  readonly shutdown: AbortSignal | undefined;
}

/**
 * `GET /threads/:id/events`: the thread's events as server-sent events, stored then live: each as
 * `event: <type>`, `id: <incarnation>:<seq>` (see `streamEventIdOf`), `data: <the event as JSON>`.
 * Starts after the `Last-Event-ID` header when there is one (a reconnecting EventSource sends the
 * last id it received, and repeats its URL: it wins over `?after=`), else after `?after=<seq>` (see
 * {@link resumeAfter}); a position past the thread's last event is refused (409). When the thread ends, an
 * `event: end` with `{ status }` follows and the stream closes; a thread that ended with nothing
 * left to send answers 204, which tells an EventSource to stop reconnecting. A thread cancelled
 * while a tool call of it ran in another process has that call's outcome left to send: the stream
 * goes on past the cancel until it is recorded (see `Runtime.watch`); when the wait runs out
 * first, `end` says so with `unrecordedCall: { callId, tool }`. A thread deleted meanwhile
 * (`DELETE /threads/:id`) ends its streams with `end` `{ status: null, deleted: true }`, also when a
 * thread is already launched again under its id. Comment lines every
 * `heartbeatMs` keep proxies from closing an idle stream; a client disconnect stops the watch.
 */
export async function streamThreadEvents(c: Context, threadId: string, options: EventStreamOptions): Promise<Response> {
  const { runtime, logger, heartbeatMs, shutdown } = options;
  const asked = resumePoint(c);
  const view = await runtime.get(threadId);
  if (view === undefined) throw new NotFoundError('thread', threadId);
  const afterSeq = resumeAfter(asked, view);
  // An outcome still awaited (a call its cancel left running elsewhere) is something left to send.
  // Compared with the wall clock, as the event times that bound the wait are the writers' own.
  const awaited = awaitedOutcome(view, runtime.agents);
  const awaiting = awaited !== undefined && systemClock.now() < awaited.until;
  if (TERMINAL_STATUSES.includes(view.status) && afterSeq >= view.version && !awaiting) return c.body(null, 204);

  return streamSSE(c, async (stream) => {
    const life = sseLifetime(c, stream, { heartbeatMs, shutdown });
    // Deleted while followed: once its watch ends, a thread launched again under the id may
    // already be there, which the end must not describe.
    let deleted = false;
    const unlisten = runtime.onDelete((id) => {
      if (id === threadId) deleted = true;
    });
    try {
      for await (const event of runtime.watch(threadId, { afterSeq, signal: life.signal })) {
        if (life.signal.aborted) break;
        await stream.writeSSE({ event: event.type, id: streamEventIdOf(view.createdAt, event.seq), data: JSON.stringify(event) });
      }
      if (!life.signal.aborted) {
        const latest = deleted ? undefined : await runtime.get(threadId);
        // Deleted elsewhere and launched again: another incarnation than the one followed.
        const ended = latest?.createdAt === view.createdAt ? latest : undefined;
        const unrecorded = ended === undefined ? undefined : unrecordedCall(ended.events);
        // Deleted while followed: `{ status: null, deleted: true }`.
        const end = { status: ended?.status ?? null, ...(ended === undefined ? { deleted: true } : {}), ...(unrecorded === undefined ? {} : { unrecordedCall: { callId: unrecorded.callId, tool: unrecorded.tool } }) };
        await stream.writeSSE({ event: 'end', data: JSON.stringify(end) });
      } else if (shutdown?.aborted && !stream.aborted) {
        // The server stops (its client is still there): say so, as when the runtime closes.
        await writeShuttingDown(stream);
      }
    } catch (error) {
      if (error instanceof RuntimeClosedError) {
        // The runtime closed under the stream (an embedder closed it before its HTTP server): no
        // failure, the server is going away; the client reconnects to whichever serves it next.
        logger.info({ threadId }, 'event stream ended: the runtime closed');
        await writeShuttingDown(stream);
        return;
      }
      // The client learns only that it should reconnect; the details stay in the log.
      logger.error({ err: error, threadId }, 'event stream failed');
      await stream.writeSSE({ event: 'error', data: JSON.stringify({ error: 'the event stream failed; reconnect with Last-Event-ID' }) });
    } finally {
      unlisten();
      life.dispose();
    }
  });
}

/** `event: error` saying the server is going away: the client reconnects, to whichever serves it next. */
function writeShuttingDown(stream: SSEStreamingApi): Promise<void> {
  return stream.writeSSE({ event: 'error', data: JSON.stringify({ error: `${SHUTTING_DOWN}; reconnect with Last-Event-ID` }) });
}

/** Where a client asked a stream to start: after a `Last-Event-ID` (read), or after `?after=`. */
type ResumePoint = { readonly header: string; readonly id: StreamEventId } | { readonly header: undefined; readonly after: number };

/**
 * The client's `Last-Event-ID` when it sent one (`?after=` is checked all the same), else its
 * `?after=`; 400 for either malformed, or for another query parameter (the stream takes no other).
 */
function resumePoint(c: Context): ResumePoint {
  refuseUnknownQuery(c, ['after']);
  const after = integerParam('after', c.req.query('after'), 0, Number.MAX_SAFE_INTEGER);
  const header = c.req.header('last-event-id')?.trim();
  if (header === undefined || header === '') return { header: undefined, after };
  const id = parseStreamEventId(header);
  if (id === undefined) {
    throw new InvalidInputError('invalid Last-Event-ID', [`Last-Event-ID: must be an id of this stream, <incarnation>:<seq>, or a seq from 0 to ${Number.MAX_SAFE_INTEGER} (got ${JSON.stringify(header.slice(0, 40))})`]);
  }
  return { header, id };
}

/**
 * The seq the stream starts after: a `Last-Event-ID`'s, when it names the thread's incarnation or
 * none (a bare seq, as streams sent before incarnations); 0 when it names another (the thread was
 * deleted and launched again under its id: the client has seen none of this one's events). A
 * position past the thread's last event is not one of this thread's (another incarnation's, in a
 * bare seq, or a mistake): refused, 409, so the client reads the thread again rather than waiting.
 */
function resumeAfter(asked: ResumePoint, view: ThreadView): number {
  if (asked.header === undefined) return pastEndChecked(asked.after, `?after=${asked.after}`, view);
  const { incarnation, seq } = asked.id;
  const current = incarnation === undefined || view.createdAt === undefined || incarnation === incarnationOf(view.createdAt);
  return current ? pastEndChecked(seq, `Last-Event-ID ${asked.header}`, view) : 0;
}

/** `afterSeq`, or a 409 naming `what` asked for it when it is past the thread's last event. */
function pastEndChecked(afterSeq: number, what: string, view: ThreadView): number {
  if (afterSeq <= view.version) return afterSeq;
  throw new InvalidStateError(
    `${what} is past the last event of thread ${view.id} (seq ${view.version}): it is not this thread's; read the thread again (GET /threads/${view.id}) and follow it after its version`,
    view.id,
    view.status,
  );
}
