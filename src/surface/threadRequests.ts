import { type BusMessage, type BusSubscription, isBusError } from '../bus/bus.js';
import { formatIssues, messageOf, refusalCodeOf, RuntimeClosedError, type RefusalCode } from '../errors.js';
import { THREAD_ID_PATTERN, THREAD_ID_RULE } from '../runtime/runtime.js';
import { shownView } from '../runtime/threadView.js';
import { briefOf, controlPayloadSchema, isNatsOwnSubject, refusal, refusalOf, type ThreadRefusal, type ThreadReply } from './payloads.js';
import { PROCESS_HEADER, THREAD_OPS, type ThreadOp } from './subjects.js';
import type { SurfaceContext } from './surfaceContext.js';

/**
 * How long a request forwarded to the process running the thread may take: a pause or cancel
 * waits for the step in flight (a model call; not a tool call, see `perform`), like the in-process API.
 */
const FORWARD_TIMEOUT_MS = 120_000;
/**
 * How long a process keeps answering a thread's forwarded requests after its run rested. A request
 * routed to it just as it stopped answering would be lost (the requester then acts itself after
 * FORWARD_TIMEOUT_MS); right after a rest is when a respond is most likely, so it answers a while
 * longer (its runtime does the right thing for a thread it no longer runs).
 */
const OWNER_GRACE_MS = 2_000;
/** How long a hand-off to the process running a thread waits for its answer. */
const PROBE_TIMEOUT_MS = 2_000;

/** What {@link ThreadRequests.handOff} found. */
export type HandOff =
  /** A process running the thread (this one or another) will run it once more when it rests. */
  | 'taken'
  /** Nobody is running the thread. */
  | 'free'
  /** A process holds the thread but did not answer in time. */
  | 'unknown';

/** The request/reply side of the NATS surface. */
export interface ThreadRequests {
  /**
   * Answers the thread's forwarded requests here while this process runs it (nested calls
   * share one subscription). Returns the function that stops answering.
   */
  own(threadId: string): () => void;
  /**
   * Hands a continuation of the thread to the process running it, if any, which runs the thread
   * once more when it rests (so two processes never run one thread because a job arrived while
   * another process still held it).
   */
  handOff(threadId: string): Promise<HandOff>;
  /** Whether a process (this one or another) runs the thread now, or did a moment ago. */
  holds(threadId: string): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Serves `<prefix>.thread.<id>.respond | control | get` in a queue group every process joins, so
 * exactly one process answers each request. A respond or control for a thread that another process
 * is running is forwarded to that process (`<prefix>.owner.<id>.<op>`), so it acts on the running
 * actor as in-process calls do (a pause takes effect after the step in flight) instead of racing it.
 */
export function serveThreadRequests(ctx: SurfaceContext): ThreadRequests {
  const { runtime, bus, subjects, queues, logger, maxPayloadBytes } = ctx;
  const owned = new Map<string, { holders: number; subscription: BusSubscription; grace?: NodeJS.Timeout }>();

  let unansweredNoted = false;
  /**
   * Says once per process why a hand-off probe went unanswered: a busy owner, or a subscriber that
   * is not switchyard (a wiretap on `>`) hiding NATS's no-responders answer, which makes every job
   * wait for redeliveries.
   */
  function noteUnanswered(threadId: string): void {
    if (unansweredNoted) return;
    unansweredNoted = true;
    logger.warn(
      { threadId, timeoutMs: PROBE_TIMEOUT_MS },
      `no answer to the hand-off probe of thread ${threadId} within ${PROBE_TIMEOUT_MS} ms: the process running it is busy, or a NATS subscriber that is not switchyard (such as \`nats sub ">"\`) hides NATS's no-responders answer, and every job then waits for a redelivery before it runs (watch with \`nats sub "${subjects.prefix}.>"\` instead); said once per process`,
    );
  }

  /** Performs the request on this process's runtime. */
  async function perform(threadId: string, op: ThreadOp, msg: BusMessage): Promise<ThreadReply> {
    if (msg.data.length > maxPayloadBytes) return fail('payload_too_large', `payload is ${msg.data.length} bytes; the limit is ${maxPayloadBytes}`);
    try {
      if (op === 'get') {
        const view = await runtime.get(threadId);
        // Shown as HTTP shows it: a callback URL recorded in clear (an earlier version) masked.
        return view === undefined ? fail('not_found', `thread not found: ${threadId}`) : { ok: true, thread: shownView(view) };
      }
      const json = msg.json();
      if (!json.success) return fail('bad_request', `payload is not JSON: ${json.error}`);
      if (op === 'respond') return { ok: true, thread: briefOf(await runtime.respond(threadId, json.data)) };
      const control = controlPayloadSchema.safeParse(json.data);
      if (!control.success) return fail('bad_request', 'invalid control request', formatIssues(control.error.issues));
      const { action, ...rest } = control.data;
      // Answered at once, as from an API process: a pause or cancel does not wait for a tool call
      // running here (up to its timeoutMs, past a requester's usual timeout); it is recorded
      // now, the call's outcome after it (a cancel still tells the call to stop).
      return { ok: true, thread: briefOf(await runtime[action](threadId, { ...rest, awaitCall: false })) };
    } catch (error) {
      const reply = threadRequestFailure(error, op);
      if (reply.code === 'internal') logger.error({ threadId, op, err: messageOf(error) }, 'thread request failed');
      else if (reply.code === 'unavailable' && !(error instanceof RuntimeClosedError)) logger.warn({ threadId, op, err: messageOf(error) }, 'thread request failed: the store is unavailable');
      return reply;
    }
  }

  async function answer(msg: BusMessage, reply: ThreadReply | Uint8Array | { ok: boolean }): Promise<void> {
    if (msg.reply === undefined) return;
    // $JS.API.STREAM.PURGE.<stream> as a reply subject would have this process purge it.
    if (isNatsOwnSubject(msg.reply)) {
      logger.warn({ subject: msg.subject, reply: msg.reply.slice(0, 200) }, 'thread request not answered: its reply subject is one of NATS\'s own ($JS, $KV, $SYS...)');
      return;
    }
    await ctx.publish(msg.reply, reply, { headers: { [PROCESS_HEADER]: ctx.processId } });
  }

  /** `<prefix>.thread.<id>.<op>`, from any client. */
  async function onRequest(msg: BusMessage): Promise<void> {
    const [, threadId = '', op = ''] = subjects.tokens(msg.subject) ?? [];
    if (!THREAD_OPS.includes(op as ThreadOp)) {
      await answer(msg, fail('bad_request', `unknown thread operation "${op}"; use ${THREAD_OPS.join(', ')}`));
      return;
    }
    if (!THREAD_ID_PATTERN.test(threadId)) {
      await answer(msg, fail('bad_request', `thread id ${THREAD_ID_RULE}`));
      return;
    }
    if (op !== 'get' && !queues.isClaimed(threadId) && (await ownerHolds(threadId))) {
      try {
        const forwarded = await bus.request(subjects.owner(threadId, op as ThreadOp), msg.data, { timeoutMs: FORWARD_TIMEOUT_MS });
        await answer(msg, forwarded.data);
        return;
      } catch (error) {
        // Its process let go of the thread or did not answer in time: do it here. Acting twice is
        // harmless (a second response is refused as stale; controls are idempotent).
        if (!isBusError(error, 'no_responders') && !isBusError(error, 'timeout')) {
          await answer(msg, fail('internal', `the process running thread ${threadId} did not answer: ${messageOf(error)}`));
          return;
        }
      }
    }
    await answer(msg, await perform(threadId, op as ThreadOp, msg));
  }

  /**
   * Whether another switchyard process runs the thread: only a reply that carries the process
   * header counts, and a probe that nobody answers in time means no (a passive subscriber on `>`
   * hides the server's no-responders answer; it costs the probe's timeout, never the request).
   */
  async function ownerHolds(threadId: string): Promise<boolean> {
    try {
      const reply = await bus.request(subjects.owner(threadId, 'hold'), '', { timeoutMs: PROBE_TIMEOUT_MS });
      return reply.headers[PROCESS_HEADER] !== undefined && isOk(reply);
    } catch {
      return false;
    }
  }

  /**
   * Stops answering for a thread this process no longer runs (the grace after its run), so that a
   * probe it sends about the thread reaches only the processes that run it: its own subscription
   * would answer "not here" first.
   */
  async function stopAnswering(threadId: string): Promise<void> {
    const entry = owned.get(threadId);
    if (entry === undefined || entry.holders > 0) return;
    clearTimeout(entry.grace);
    owned.delete(threadId);
    await entry.subscription.unsubscribe();
  }

  const front = bus.subscribe(subjects.anyThread, onRequest, { queue: subjects.apiGroup });

  return {
    own(threadId) {
      let entry = owned.get(threadId);
      if (entry?.grace !== undefined) {
        clearTimeout(entry.grace);
        entry.grace = undefined;
      }
      if (entry === undefined) {
        const subscription = bus.subscribe(subjects.anyOwner(threadId), async (msg) => {
          const op = msg.subject.split('.').at(-1);
          if (op === 'run') await answer(msg, { ok: queues.nudge(threadId) });
          else if (op === 'hold') await answer(msg, { ok: true });
          else if (THREAD_OPS.includes(op as ThreadOp)) await answer(msg, await perform(threadId, op as ThreadOp, msg));
          else await answer(msg, fail('bad_request', `unknown thread operation "${op}"`));
        });
        entry = { holders: 0, subscription };
        owned.set(threadId, entry);
      }
      entry.holders++;
      const held = entry;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held.holders--;
        if (held.holders === 0 && owned.get(threadId) === held) {
          held.grace = setTimeout(() => {
            if (owned.get(threadId) !== held || held.holders > 0) return;
            owned.delete(threadId);
            void held.subscription.unsubscribe();
          }, OWNER_GRACE_MS).unref();
        }
      };
    },

    async handOff(threadId) {
      if (queues.nudge(threadId)) return 'taken';
      await stopAnswering(threadId);
      try {
        const reply = await bus.request(subjects.owner(threadId, 'run'), '', { timeoutMs: PROBE_TIMEOUT_MS });
        // Not taken: the owner let the thread go between our request and its answer.
        return reply.headers[PROCESS_HEADER] !== undefined && isOk(reply) ? 'taken' : 'free';
      } catch (error) {
        if (isBusError(error, 'no_responders')) return 'free';
        if (isBusError(error, 'timeout')) noteUnanswered(threadId);
        return 'unknown';
      }
    },

    async holds(threadId) {
      if (queues.isClaimed(threadId)) return true;
      await stopAnswering(threadId);
      return ownerHolds(threadId);
    },

    async close() {
      await front.unsubscribe();
      for (const entry of owned.values()) clearTimeout(entry.grace);
      await Promise.all([...owned.values()].map((entry) => entry.subscription.unsubscribe()));
      owned.clear();
    },
  };
}

/** A refusal as a thread reply. */
function fail(code: RefusalCode, error: string, issues?: readonly string[]): ThreadRefusal {
  return { ok: false, ...refusal(code, error, issues) };
}

/**
 * The reply to a thread request that threw `error`: its code as HTTP's error body would name it
 * (`refusalCodeOf`: `already_answered`, `thread_ended`, `not_found`...), its message (with the
 * issues of bad input).
 */
export function threadRequestFailure(error: unknown, op: ThreadOp): ThreadRefusal {
  const code = refusalCodeOf(error);
  // This process stops (its runtime drains), or its store cannot serve: another process (or a later try) can.
  if (code === 'unavailable') return fail(code, `${op} failed: ${messageOf(error)}; send it again`);
  if (code === 'internal') return fail(code, `${op} failed: ${messageOf(error)}`);
  return { ok: false, ...refusalOf(error) };
}

/** Whether a reply is `{ ok: true }`. */
function isOk(reply: BusMessage): boolean {
  const json = reply.json();
  return json.success && (json.data as { ok?: unknown } | null)?.ok === true;
}
