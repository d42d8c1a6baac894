/**
 * A thread that backs off for long (a model's rate limit honoured up to 10 minutes) rests as a
 * sleeping thread does: its actor leaves the supervisor's slot, and it is woken at the recorded
 * retry time (also by the next process's recover()). A short backoff stays in its actor.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { codeStep, pipeline } from '../../src/pipeline/pipeline.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { within } from '../bus/waiting.js';

const TEN_MINUTES = 600_000;

const answerer = agent({
  name: 'answerer',
  description: 'answers at once',
  prompt: 'You are {{agent}}.\nTools:\n{{tools}}',
  tools: [],
  // No jitter: the retry comes exactly when asked (these tests are about the rest, not its spread).
  backoff: { jitter: 0 },
});

/**
 * A model shared by every thread, answering by the thread's input: a thread whose input starts
 * with `limited` is rate limited (for `retryAfterMs`) until its context shows that error, any
 * other answers at once.
 */
function rateLimitedModel(retryAfterMs: number) {
  return scriptedModel([], {
    whenExhausted: (request: ModelRequest): ScriptedReply => {
      const input = /<input>\n(.*)\n<\/input>/.exec(request.context)?.[1] ?? '';
      if (input.startsWith('limited') && !request.context.includes('<error')) {
        return { error: { kind: 'http', status: 429, message: 'too many requests', retryAfterMs } };
      }
      return { intent: 'done_for_now', args: { message: `answered ${input}` } };
    },
  });
}

/** Resolves with the first event of the thread that passes `test` (bounded). */
function until(rt: Runtime, id: string, test: (e: ThreadEvent) => boolean, what: string): Promise<ThreadEvent> {
  return within(
    (async () => {
      for await (const event of rt.watch(id)) if (test(event)) return event;
      throw new Error(`thread ended before ${what}`);
    })(),
    5_000,
    what,
  );
}

const start = Date.parse('2026-01-01T00:00:00Z');

/** Decisions the model was asked for on behalf of `threadId`. */
const asked = (model: ReturnType<typeof rateLimitedModel>, threadId: string): number => model.requests.filter((r) => r.threadId === threadId).length;

/**
 * A runtime with one slot on a simulated clock at `start`, and a thread launched with `input` that
 * the model rate limits for `retryAfterMs`, once its error is stored.
 */
async function rateLimitedThread(input = 'limited', retryAfterMs = TEN_MINUTES) {
  const clock = new SimulatedClock();
  clock.set(start);
  const model = rateLimitedModel(retryAfterMs);
  const rt = createRuntime({ agents: [answerer], store: createMemoryStore(), model, clock, maxConcurrent: 1 });
  const limited = await rt.launch('answerer', input);
  const error = await until(rt, limited.id, (e) => e.type === 'error', 'the rate limit');
  return { clock, model, rt, limited, error };
}

/** Launches another thread on `rt` and waits for it to settle (it needs the one slot). */
async function otherRuns(rt: Runtime, what: string, input = 'other') {
  const other = await rt.launch('answerer', input);
  return within(rt.settled(other.id), 3_000, what);
}

describe('a thread rate limited for long', () => {
  // In review: the actor sat in backingOff on its `after` timer for the whole wait, holding one of
  // the supervisor's slots, so 50 threads rate limited for 10 minutes starved every other thread.
  it('holds no slot while it waits: another thread runs meanwhile, and it retries at the recorded time', async () => {
    const { clock, model, rt, limited, error } = await rateLimitedThread('limited one');
    expect(error.type === 'error' && error.data.rateLimited).toBe(true);
    const view = await otherRuns(rt, 'the other thread to finish while one waited out its rate limit', 'other one');
    expect(view).toMatchObject({ status: 'done', output: 'answered other one' });
    // It still shows that it backs off, and no actor is kept for the wait.
    expect((await rt.get(limited.id))!.status).toBe('backing_off');
    expect(rt.activeCount()).toBe(0);
    expect(asked(model, limited.id)).toBe(1);
    clock.increment(TEN_MINUTES);
    await until(rt, limited.id, (e) => e.type === 'final', 'the retry after the wait');
    const done = (await rt.get(limited.id))!;
    expect(done).toMatchObject({ status: 'done', output: 'answered limited one' });
    expect(asked(model, limited.id)).toBe(2);
    // Nothing is recorded for the rest itself: the error, then the decision that followed it.
    expect(done.events.map((e) => e.type)).toEqual(['input', 'error', 'decision', 'final']);
    expect(Date.parse(done.events.find((e) => e.type === 'decision')!.at)).toBe(start + TEN_MINUTES);
    await rt.close();
  });

  it('is not retried before the recorded time', async () => {
    const { clock, model, rt, limited } = await rateLimitedThread();
    // The other thread runs to its end, so every timer due by now has fired.
    await otherRuns(rt, 'the other thread');
    clock.increment(TEN_MINUTES - 1);
    await otherRuns(rt, 'a third thread, one ms before the retry', 'third');
    expect(asked(model, limited.id)).toBe(1);
    expect((await rt.get(limited.id))!.status).toBe('backing_off');
    clock.increment(1);
    await until(rt, limited.id, (e) => e.type === 'final', 'the retry');
    await rt.close();
  });

  it('can be paused while it waits, stays paused past its retry time, and goes on once resumed', async () => {
    const { clock, model, rt, limited } = await rateLimitedThread();
    const paused = await within(rt.pause(limited.id, { by: 'ops' }), 3_000, 'the pause');
    expect(paused.status).toBe('paused');
    clock.increment(TEN_MINUTES);
    await otherRuns(rt, 'the other thread, after the retry time');
    expect(asked(model, limited.id)).toBe(1);
    expect((await rt.get(limited.id))!.status).toBe('paused');
    await rt.resume(limited.id);
    expect(await within(rt.settled(limited.id), 3_000, 'the resumed thread')).toMatchObject({ status: 'done', output: 'answered limited' });
    expect(asked(model, limited.id)).toBe(2);
    await rt.close();
  });

  it('can be cancelled while it waits, and is not retried', async () => {
    const { clock, model, rt, limited } = await rateLimitedThread();
    const cancelled = await within(rt.cancel(limited.id, { reason: 'not needed' }), 3_000, 'the cancel');
    expect(cancelled.status).toBe('cancelled');
    clock.increment(TEN_MINUTES);
    await otherRuns(rt, 'the other thread, after the retry time');
    expect(asked(model, limited.id)).toBe(1);
    expect((await rt.get(limited.id))!.status).toBe('cancelled');
    await rt.close();
  });

  it('is woken at its retry time by the next process after a restart, holding no slot meanwhile', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-backoffrest-'));
    const clock = new SimulatedClock();
    clock.set(start);
    try {
      const first = createRuntime({ agents: [answerer], store: await createFileStore({ dir, clock }), model: rateLimitedModel(TEN_MINUTES), clock });
      const limited = await first.launch('answerer', 'limited');
      await until(first, limited.id, (e) => e.type === 'error', 'the rate limit');
      await first.close(); // the process stops half way through the wait
      clock.increment(TEN_MINUTES / 2);

      const model = rateLimitedModel(TEN_MINUTES);
      const second = createRuntime({ agents: [answerer], store: await createFileStore({ dir, clock }), model, clock, maxConcurrent: 1 });
      expect(await second.recover()).toBe(1);
      await otherRuns(second, 'another thread while the recovered one waits');
      expect(second.activeCount()).toBe(0);
      expect(asked(model, limited.id)).toBe(0);
      clock.increment(TEN_MINUTES / 2);
      await until(second, limited.id, (e) => e.type === 'final', 'the retry after the restart');
      expect((await second.get(limited.id))!.status).toBe('done');
      expect(asked(model, limited.id)).toBe(1);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a pipeline retrying a failed step after a long delay', () => {
  it('holds no slot while it waits, and runs the step again at the recorded time', async () => {
    const clock = new SimulatedClock();
    clock.set(start);
    let calls = 0;
    const retrying = pipeline({
      name: 'retrying',
      description: 'a step that fails once',
      input: z.object({}),
      output: z.string(),
      retryDelayMs: 60_000,
      steps: [
        codeStep({
          name: 'flaky',
          run: () => {
            if (++calls === 1) throw new Error('not yet');
            return 'ok';
          },
        }),
      ],
      finish: ({ results }) => String(results.flaky),
    });
    const rt = createRuntime({ agents: [answerer], pipelines: [retrying], store: createMemoryStore(), model: rateLimitedModel(TEN_MINUTES), clock, maxConcurrent: 1 });
    const piped = await rt.launch('retrying', {});
    await until(rt, piped.id, (e) => e.type === 'error', 'the failed step');
    await otherRuns(rt, 'an agent thread while the pipeline waits');
    expect(rt.activeCount()).toBe(0);
    expect((await rt.get(piped.id))!.status).toBe('backing_off');
    expect(calls).toBe(1);
    clock.increment(60_000);
    await until(rt, piped.id, (e) => e.type === 'final', 'the step run again');
    expect((await rt.get(piped.id))!).toMatchObject({ status: 'done', output: 'ok' });
    expect(calls).toBe(2);
    await rt.close();
  });
});

describe('a short backoff', () => {
  it('is waited out in the actor, as before', async () => {
    const { clock, rt, limited } = await rateLimitedThread('limited', 1_000);
    // The error is stored before the actor moves on: let its transition to backingOff run.
    await new Promise((resolve) => setImmediate(resolve));
    expect(rt.activeCount()).toBe(1);
    expect((await rt.get(limited.id))!.status).toBe('backing_off');
    const retryAt = (await rt.get(limited.id))!.events.find((e) => e.type === 'error');
    expect(retryAt?.type === 'error' && Date.parse(retryAt.data.retryAt!) - start).toBeLessThanOrEqual(1_200);
    clock.increment(1_200);
    expect(await within(rt.settled(limited.id), 3_000, 'the retry')).toMatchObject({ status: 'done' });
    await rt.close();
  });
});
