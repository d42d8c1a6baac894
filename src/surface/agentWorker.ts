import { createHash } from 'node:crypto';
import type { Job, JobConsumer } from '../bus/bus.js';
import { retryDelayFor } from '../bus/jobRunner.js';
import { MAX_TIMER_MS, sleep, systemClock } from '../clock.js';
import { formatIssues, InvalidInputError, InvalidStateError, NotFoundError, messageOf } from '../errors.js';
import { parentIdOf, type RunOptions, type ThreadView } from '../runtime/runtime.js';
import { type ThreadStatus, TERMINAL_STATUSES } from '../thread/state.js';
import { headerReplyTo, isReplySubject, jobPayloadSchema, replyToOf, resultOf, triggerPayloadSchema, type ErrorReply, type TriggerPayload } from './payloads.js';
import { publishHumanNotice } from './eventFanout.js';
import { REPLY_TO_HEADER } from './subjects.js';
import type { SurfaceContext } from './surfaceContext.js';
import type { ThreadRequests } from './threadRequests.js';

/** Options of {@link startAgentWorker}, normalized. */
export interface AgentWorkerOptions {
  /** The agents and pipelines whose queues this process consumes. */
  readonly agents: readonly string[];
  /** Jobs run at once per agent queue. */
  readonly concurrency: number;
  /** Heartbeat (`job.working()`) interval while a thread runs. */
  readonly heartbeatMs: number;
}

/** The job-taking side of the NATS surface. */
export interface AgentWorker {
  /** Jobs running now. */
  active(): number;
  /**
   * Stops taking jobs and waits up to `drainMs` for the running ones; the rest are handed back
   * (their runs aborted, the jobs nak'ed to be delivered again shortly).
   */
  stop(drainMs: number): Promise<void>;
}

/** Statuses of a thread that is still moving. */
const MOVING: readonly ThreadStatus[] = ['running', 'backing_off'];
/** Runs of one job when schedule requests keep arriving while it runs (then it is enqueued). */
const MAX_ROUNDS = 10;
/** Delay before a job handed back at shutdown is delivered again (after this process stops its actors). */
const HANDBACK_DELAY_MS = 2_000;
const PLAIN_MSG_ID = /^[A-Za-z0-9_:-]{1,120}$/;
/** How long a guard job waits in place for its write to land before it hands itself back. */
const GUARD_WAIT_MS = 1_000;
const GUARD_POLL_MS = 25;

/**
 * Consumes the work queues of the served agents. A trigger launches its thread (idempotent by
 * thread id), a continuation job names a thread; both run the thread to rest in this process with
 * a heartbeat, publish the result to the reply subjects, then ack. Bad input is terminated (a
 * dead letter with the reason) after an error reply; it never throws out of the handler.
 */
export function startAgentWorker(ctx: SurfaceContext, requests: ThreadRequests, options: AgentWorkerOptions): Promise<AgentWorker> {
  const { runtime, queues, subjects, logger, maxPayloadBytes } = ctx;
  const running = new Set<AbortController>();

  function heartbeat(job: Job): () => void {
    let beating = false;
    const timer = setInterval(() => {
      if (beating) return;
      beating = true;
      job
        .working()
        .catch((error: unknown) => logger.warn({ jobId: job.id, err: messageOf(error) }, 'heartbeat failed'))
        .finally(() => {
          beating = false;
        });
    }, options.heartbeatMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Refuses bad input for good: an error reply when there is a reply subject, then a dead letter. */
  async function refuse(job: Job, agent: string, replyTo: string | undefined, error: string, issues: readonly string[] = []): Promise<void> {
    logger.warn({ agent, jobId: job.id, subject: job.subject, err: error, issues }, 'trigger refused');
    if (replyTo !== undefined) {
      const reply: ErrorReply = { error, ...(issues.length > 0 ? { issues: [...issues] } : {}) };
      await ctx.publish(replyTo, reply);
    }
    await job.term(issues.length > 0 ? `${error}: ${issues.join('; ')}` : error);
  }

  /** The thread id of a trigger: its own, else from its msg id, else from its place in the queue. */
  async function triggerThreadId(agent: string, job: Job, payload: TriggerPayload): Promise<string> {
    if (payload.threadId !== undefined) return payload.threadId;
    if (job.msgId !== undefined) {
      return PLAIN_MSG_ID.test(job.msgId) ? `trg-${job.msgId}` : `trg-${createHash('sha256').update(job.msgId).digest('hex').slice(0, 40)}`;
    }
    // Stable across redeliveries. A queue recreated from scratch counts from 1 again: an existing
    // thread with another input under this id is not this trigger's.
    const id = `trg-${subjects.queueName(agent)}-${job.seq}`;
    const existing = await runtime.get(id);
    const first = existing?.events[0];
    if (existing === undefined || (first?.type === 'input' && JSON.stringify(first.data.input) === JSON.stringify(payload.input))) return id;
    return `${id}-${Date.now().toString(36)}`;
  }

  async function onTrigger(agent: string, job: Job): Promise<void> {
    const header = job.headers[REPLY_TO_HEADER];
    const headerReply = headerReplyTo(job.headers);
    if (job.data.length > maxPayloadBytes) {
      await refuse(job, agent, headerReply, `trigger payload is ${job.data.length} bytes; the limit is ${maxPayloadBytes}`);
      return;
    }
    const json = job.json();
    if (!json.success) {
      await refuse(job, agent, headerReply, `trigger payload is not JSON: ${json.error}`);
      return;
    }
    const parsed = triggerPayloadSchema.safeParse(json.data);
    if (!parsed.success) {
      // Reply where the sender asked, if that much of the payload is usable.
      await refuse(job, agent, replyToOf(json, job.headers), `invalid trigger for ${agent}`, formatIssues(parsed.error.issues));
      return;
    }
    if (header !== undefined && headerReply === undefined) {
      await refuse(job, agent, parsed.data.replyTo, `header ${REPLY_TO_HEADER} must be a NATS subject without wildcards, at most 512 characters`);
      return;
    }
    const replyTo = parsed.data.replyTo ?? headerReply;
    const threadId = await triggerThreadId(agent, job, parsed.data);
    // A redelivery while the first delivery's worker still runs the thread: leave it to that one.
    if (job.deliveryCount > 1 && (await handedOff(job, threadId))) return;
    await runToRest(job, threadId, replyTo, async () => {
      try {
        const launched = await runtime.launch(agent, parsed.data.input, {
          threadId,
          source: { kind: 'nats', ...(replyTo === undefined ? {} : { replyTo }), triggerId: job.msgId ?? job.id },
        });
        // Under the claim nothing advances the thread before the run: it need not be read again.
        return { thread: { id: launched.id, agent: launched.agent, events: launched.events } };
      } catch (error) {
        if (error instanceof InvalidInputError) await refuse(job, agent, replyTo, error.message, error.issues);
        else if (error instanceof InvalidStateError || error instanceof NotFoundError) await refuse(job, agent, replyTo, error.message);
        else throw error; // the store failed: delivered again later
        return false;
      }
    });
  }

  async function onContinuation(agent: string, job: Job): Promise<void> {
    if (job.data.length > maxPayloadBytes) {
      await job.term(`job payload is ${job.data.length} bytes; the limit is ${maxPayloadBytes}`);
      return;
    }
    const json = job.json();
    const parsed = json.success ? jobPayloadSchema.safeParse(json.data) : undefined;
    if (parsed === undefined || !parsed.success) {
      await job.term(parsed === undefined ? 'job payload is not JSON' : `invalid job: ${formatIssues(parsed.error.issues).join('; ')}`);
      return;
    }
    const { threadId, after, wakeAt } = parsed.data;
    if (after !== undefined && !(await guardDue(job, threadId, after))) return;
    if (wakeAt !== undefined && !(await wakeDue(job, agent, threadId, wakeAt))) return;
    if (await handedOff(job, threadId)) return;
    // The run checks that the thread exists and is this agent's (else the job is terminated).
    await runToRest(job, threadId, undefined, async () => ({ agent }));
  }

  /** Hands a job back to be delivered again after the queue's retry delay for its delivery count. */
  const retryLater = (job: Job): Promise<void> => job.nak(retryDelayFor(queues.config, job.deliveryCount));

  /**
   * Whether a guard job (see `AgentQueues.guard`) is due: its write landed. Then it runs like any
   * continuation, even when the thread moved on since: the run that moved it may have died before
   * it replied or woke a parent (both are idempotent). Otherwise the job is settled here: handed
   * back while its write may still land, acknowledged once it cannot (a write that never happened).
   */
  async function guardDue(job: Job, threadId: string, after: number): Promise<boolean> {
    const deadline = Date.now() + GUARD_WAIT_MS;
    let view = await runtime.get(threadId);
    // The guard was enqueued just before its write: on a first delivery, give the write a moment.
    while ((view === undefined || view.version <= after) && Date.now() < deadline) {
      await sleep(systemClock, GUARD_POLL_MS);
      view = await runtime.get(threadId);
    }
    if (view !== undefined && view.version > after) return true;
    if (job.deliveryCount >= queues.config.maxDeliver - 1) {
      logger.debug({ threadId, after }, 'the write a guard job waited for never landed');
      await job.ack();
    } else await retryLater(job);
    return false;
  }

  /**
   * Whether a sleeping thread's wake-up job is due. Enqueued as the thread falls asleep, it comes
   * early and is handed back until the deadline (a nak with that delay, capped by the timer limit).
   * On its last delivery (a sleep past four timer limits) a fresh job with deliveries of its own
   * replaces it; a queue of one delivery per job has nothing to hand back, so the job is kept,
   * heartbeating, until the deadline.
   */
  async function wakeDue(job: Job, agent: string, threadId: string, wakeAt: number): Promise<boolean> {
    const remaining = wakeAt - Date.now();
    if (remaining <= 0) return true;
    const { maxDeliver } = queues.config;
    if (job.deliveryCount < maxDeliver) await job.nak(Math.min(remaining, MAX_TIMER_MS));
    else if (maxDeliver > 1) {
      await (await queues.queue(agent)).enqueue(subjects.jobs(agent), { threadId, wakeAt });
      await job.ack();
    } else return (await hold(job, remaining)) && wakeDue(job, agent, threadId, wakeAt);
    return false;
  }

  /**
   * Keeps a job, heartbeating, for `ms` (at most the timer limit). False when the worker stopped
   * meanwhile: the job was handed back, as a running one is.
   */
  async function hold(job: Job, ms: number): Promise<boolean> {
    const stopHeartbeat = heartbeat(job);
    const abort = new AbortController();
    running.add(abort);
    try {
      await sleep(systemClock, Math.min(ms, MAX_TIMER_MS), abort.signal);
      return true;
    } catch {
      await job.nak(HANDBACK_DELAY_MS);
      return false;
    } finally {
      stopHeartbeat();
      running.delete(abort);
    }
  }

  /**
   * Runs the thread here until it rests, heartbeating, then replies and acks. `prepare` runs under
   * the claim (so a launch schedules nothing) and returns the options of the first run, or false
   * when it settled the job itself. A thread that is missing or another agent's is terminated.
   */
  async function runToRest(
    job: Job,
    threadId: string,
    replyTo: string | undefined,
    prepare: () => Promise<Omit<RunOptions, 'signal'> | false>,
  ): Promise<void> {
    const claim = queues.claim(threadId);
    const disown = requests.own(threadId);
    const stopHeartbeat = heartbeat(job);
    const abort = new AbortController();
    running.add(abort);
    let view: ThreadView | undefined;
    let pending = false;
    try {
      const first = await prepare();
      if (first === false) return;
      // A thread that falls asleep is let go: its wake-up job carries it on.
      const waiting = { signal: abort.signal, untilAsleep: true };
      for (let round = 1; round <= MAX_ROUNDS; round++) {
        claim.pending = false;
        view = await runtime.run(threadId, round === 1 ? { ...first, ...waiting } : waiting);
        if (!claim.pending) break;
      }
      pending = claim.pending;
    } catch (error) {
      if (abort.signal.aborted) {
        await job.nak(HANDBACK_DELAY_MS);
        return;
      }
      // No such thread, or (a continuation) another agent's.
      if (error instanceof NotFoundError || (error instanceof InvalidStateError && error.status === 'conflict')) {
        await job.term(error.message);
        return;
      }
      throw error; // nak'ed with the queue's retry delay (or dead-lettered on the last delivery)
    } finally {
      stopHeartbeat();
      claim.release();
      disown();
      running.delete(abort);
    }
    if (view === undefined) return;
    // Still asked to run after MAX_ROUNDS: let the queue carry it on.
    if (pending) await queues.schedule(view);
    // Asleep: its wake-up job, due at the deadline, carries it on; nothing to report yet.
    if (view.status === 'sleeping') {
      await job.ack();
      return;
    }
    if (MOVING.includes(view.status)) {
      if (!(await waitsForChild(view))) {
        // The actor stopped before its thread rested: another process advanced it (it carries on)
        // or the store failed (try again later).
        if ((await requests.handOff(threadId)) === 'taken') await job.ack();
        else {
          logger.warn({ threadId, agent: view.agent, status: view.status }, 'thread stopped before it rested; retrying later');
          await retryLater(job);
        }
        return;
      }
    } else await reportRest(job, view, replyTo);
    await job.ack();
  }

  /**
   * Tells whoever waits on a thread at rest, before its job is acknowledged (so a crash before the
   * ack tells them again: at least once): the reply subjects, the human request (again, on a
   * redelivery), an HTTP launch's callback, and the pipeline of a child that ended.
   */
  async function reportRest(job: Job, view: ThreadView, replyTo: string | undefined): Promise<void> {
    const targets = new Set([replyTo, recordedReplyTo(view)].filter((s): s is string => s !== undefined));
    const result = resultOf(view);
    for (const target of targets) await ctx.publish(target, result);
    // A job back after a crash: the process that stored the request may have died before it
    // published it.
    if (view.pendingRequest !== null && job.deliveryCount > 1) await publishHumanNotice(ctx, view.agent, view.id, view.pendingRequest);
    const stopBeating = heartbeat(job); // a callback may take a few attempts
    await ctx.callbacks.send(view).finally(stopBeating);
    if (TERMINAL_STATUSES.includes(view.status)) await wakeParent(view);
  }

  /**
   * A pipeline's child thread ended: a job on the pipeline's queue continues the pipeline, in
   * whichever process serves it (this one need not know the pipeline). The runtime schedules the
   * same job when it writes the end; their shared msg id makes them one.
   */
  async function wakeParent(view: ThreadView): Promise<void> {
    const parentId = parentIdOf(view);
    if (parentId === undefined) return;
    const parent = await runtime.get(parentId);
    if (parent === undefined) return;
    await queues.schedule(parent, { childEnded: { threadId: view.id, version: view.version } });
  }

  /**
   * Settles a job for a thread that a run (here or in another process) holds now: that run takes
   * it over (acked), or will be asked again later when it did not answer (nak'ed). False: free.
   */
  async function handedOff(job: Job, threadId: string): Promise<boolean> {
    const handOff = await requests.handOff(threadId);
    if (handOff === 'free') return false;
    if (handOff === 'taken') {
      await job.ack();
      return true;
    }
    // Nobody answered in time: a busy owner, or a subscriber that is not switchyard hid the
    // no-responders answer. Ask again later, but never dead-letter a valid job for it: on its last
    // delivery run it here (appends with the expected version keep two runs from both writing).
    if (job.deliveryCount >= queues.config.maxDeliver - 1) return false;
    await retryLater(job);
    return true;
  }

  /** A pipeline at rest waits for a child thread that has not ended yet. */
  async function waitsForChild(view: ThreadView): Promise<boolean> {
    if (!runtime.pipelines.has(view.agent) || view.status !== 'running') return false;
    const call = view.events.findLast((e) => e.type === 'tool_call');
    if (call?.type !== 'tool_call' || view.events.some((e) => e.type === 'tool_result' && e.data.callId === call.data.callId)) return false;
    const childId = call.data.args.threadId;
    if (typeof childId !== 'string') return false;
    const child = await runtime.get(childId);
    return child !== undefined && !TERMINAL_STATUSES.includes(child.status);
  }

  const consumers: JobConsumer[] = [];
  return (async () => {
    for (const agent of options.agents) {
      const queue = await queues.queue(agent);
      consumers.push(
        queue.consume(
          async (job) => {
            if (job.subject === subjects.trigger(agent)) await onTrigger(agent, job);
            else if (job.subject === subjects.jobs(agent)) await onContinuation(agent, job);
            else await job.term(`unexpected subject ${job.subject} in the queue of ${agent}`);
          },
          { concurrency: options.concurrency },
        ),
      );
    }
    return {
      active: () => running.size,
      async stop(drainMs) {
        const stopped = Promise.all(consumers.map((c) => c.stop()));
        let timer: NodeJS.Timeout | undefined;
        const drained = await Promise.race([
          stopped.then(() => true),
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), drainMs);
          }),
        ]);
        clearTimeout(timer);
        if (drained) return;
        logger.warn({ jobs: running.size }, 'jobs still running at shutdown: handing them back');
        for (const abort of running) abort.abort(new Error('the worker is shutting down'));
        await stopped;
      },
    };
  })();
}

/** The reply subject the thread's trigger recorded, if it came over NATS. */
function recordedReplyTo(view: ThreadView): string | undefined {
  const first = view.events[0];
  if (first?.type !== 'input' || first.data.source?.kind !== 'nats') return undefined;
  const replyTo = first.data.source.replyTo;
  return replyTo !== undefined && isReplySubject(replyTo) ? replyTo : undefined;
}
