import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidInputError, NotFoundError, SystemError } from '../../src/errors.js';
import { codeStep, pipeline, sleepStep } from '../../src/pipeline/pipeline.js';
import type { ChildLauncher } from '../../src/pipeline/pipelineSteps.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { inputEvents, instantChildren, runPipeline } from './pipelineKit.js';

/** Throws on its first `times` calls, then returns `value`. */
function flaky<T>(times: number, value: T): () => T {
  let calls = 0;
  return () => {
    if (++calls <= times) throw new Error(`flake ${calls}`);
    return value;
  };
}

const head = { description: 'd', input: z.object({}), output: z.unknown(), retryDelayMs: 100 };

describe("a step's own functions that throw are failed attempts, never exceptions out of the actor", () => {
  it('a sleep whose duration throws once retries, then sleeps the whole duration', async () => {
    const end = await runPipeline(
      pipeline({ ...head, name: 'nap', steps: [sleepStep({ name: 'nap', duration: flaky(1, 5_000) })], finish: ({ results }) => results.nap ?? null }),
      inputEvents({}),
    );
    expect(end.status).toBe('done');
    expect(end.thread.events.map((e) => e.type)).toEqual(['input', 'tool_call', 'error', 'tool_call', 'tool_result', 'final']);
    const journaled = end.thread.events[3];
    const started = Date.parse(journaled!.at);
    expect(journaled).toMatchObject({ type: 'tool_call', data: { callId: 'step_1', attempt: 2, args: { ms: 5_000 } } });
    expect(journaled?.type === 'tool_call' && Date.parse(String(journaled.data.args.until))).toBe(started + 5_000);
    expect(Date.parse(end.thread.events[4]!.at)).toBe(started + 5_000);
  });

  it("an agent step whose input throws once retries, then launches its child with the input", async () => {
    const launched: string[] = [];
    const inputs: unknown[] = [];
    const children = instantChildren((_, input) => (inputs.push(input), 'ok'), launched);
    const end = await runPipeline(
      pipeline({ ...head, name: 'ask', steps: [{ kind: 'agent', name: 'ask', agent: 'helper', input: flaky(1, 'the question') }], finish: ({ results }) => results.ask ?? null }),
      inputEvents({}),
      { children },
    );
    expect(end.status).toBe('done');
    expect(inputs).toEqual(['the question']);
    expect(launched).toEqual(['pipe-1--ask']);
    expect(end.thread.events.filter((e) => e.type === 'tool_call').map((e) => e.type === 'tool_call' && e.data.args)).toEqual([
      {},
      { threadId: 'pipe-1--ask', agent: 'helper', input: 'the question' },
    ]);
  });

  it('a skip that keeps throwing fails the pipeline after maxConsecutiveErrors', async () => {
    const end = await runPipeline(
      pipeline({
        ...head,
        name: 'skippy',
        steps: [
          codeStep({
            name: 'maybe',
            run: () => 1,
            skip: () => {
              throw new Error('cannot tell');
            },
          }),
        ],
        finish: () => null,
      }),
      inputEvents({}),
    );
    expect(end.status).toBe('failed');
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'failed', data: { reason: 'step maybe failed: cannot tell (3 times in a row)' } });
    expect(end.thread.events.filter((e) => e.type === 'error')).toHaveLength(3);
  });

  it('a child that cannot be launched (no such agent) fails the pipeline with the reason; a store failure still stops the actor', async () => {
    const missing: ChildLauncher = { check: () => undefined, launch: () => Promise.reject(new NotFoundError('agent', 'helper')) };
    const step = { kind: 'agent' as const, name: 'ask', agent: 'helper', input: () => 'q' };
    const end = await runPipeline(pipeline({ ...head, name: 'ask', steps: [step], finish: () => null }), inputEvents({}), { children: missing });
    expect(end.status).toBe('failed');
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'failed', data: { reason: expect.stringMatching(/^step ask: could not launch agent helper: .*helper/) } });
    const down: ChildLauncher = { check: () => undefined, launch: () => Promise.reject(new SystemError('the store is down')) };
    const stopped = await runPipeline(pipeline({ ...head, name: 'ask', steps: [step], finish: () => null }), inputEvents({}), { children: down });
    expect(stopped.state).toBe('stopped');
    expect(stopped.stopped).toBe('step failed: the store is down');
    expect(stopped.status).toBe('running');
  });

  it("an input the child's agent refuses fails the pipeline naming each issue, before any delegation is journaled or child launched", async () => {
    const launched: string[] = [];
    const checked: unknown[] = [];
    const strict: ChildLauncher = {
      ...instantChildren(() => 'ok', launched),
      check: (agent, input) => {
        checked.push([agent, input]);
        throw new InvalidInputError(`invalid input for agent ${agent}`, ['amount: Too small: expected number to be >0', 'customer: Required']);
      },
    };
    const step = { kind: 'agent' as const, name: 'credit', agent: 'intake', input: () => ({ amount: -5 }) };
    const end = await runPipeline(pipeline({ ...head, name: 'chain', steps: [step], finish: () => null }), inputEvents({}), { children: strict });
    expect(end.status).toBe('failed');
    expect(checked).toEqual([['intake', { amount: -5 }]]);
    expect(launched).toEqual([]);
    expect(end.thread.events.map((e) => e.type)).toEqual(['input', 'failed']);
    expect(end.thread.events.at(-1)).toMatchObject({
      type: 'failed',
      data: { reason: 'step credit: could not launch agent intake: invalid input for agent intake: amount: Too small: expected number to be >0; customer: Required' },
    });
  });

  it('a launch refused after its delegation was journaled (a restart, the agent changed since) resolves that delegation as failed, naming each issue', async () => {
    const at = '2025-01-01T00:00:00.000Z';
    const delegation: ThreadEvent = { seq: 2, at, type: 'tool_call', data: { callId: 'step_1', tool: 'credit', args: { threadId: 'pipe-1--credit', agent: 'intake', input: { amount: 5 } }, idempotencyKey: 'pipe-1:step_1', attempt: 1 } };
    const refusing: ChildLauncher = {
      check: () => undefined,
      launch: (agent) => Promise.reject(new InvalidInputError(`invalid input for agent ${agent}`, ['amount: Too big: expected number to be <5'])),
    };
    const step = { kind: 'agent' as const, name: 'credit', agent: 'intake', input: () => ({ amount: 5 }) };
    const end = await runPipeline(pipeline({ ...head, name: 'chain', steps: [step], finish: () => null }), [...inputEvents({}, at), delegation], { children: refusing });
    expect(end.status).toBe('failed');
    expect(end.thread.events.map((e) => e.type)).toEqual(['input', 'tool_call', 'error', 'failed']);
    const reason = 'step credit: could not launch agent intake: invalid input for agent intake: amount: Too big: expected number to be <5';
    expect(end.thread.events[2]).toMatchObject({ type: 'error', data: { kind: 'tool_error', callId: 'step_1', tool: 'credit', message: reason } });
    expect(end.thread.events[2]?.type === 'error' && end.thread.events[2].data.retryAt).toBeUndefined();
    expect(end.thread.events[3]).toMatchObject({ type: 'failed', data: { reason } });
  });
});

describe("schemas of the author's that throw (a refinement or transform) fail the pipeline with the reason, never stop its actor", () => {
  const fail = (): never => {
    throw new Error('schema bug');
  };

  it("the pipeline's output schema", async () => {
    const end = await runPipeline(
      pipeline({ ...head, name: 'out', output: z.unknown().refine(() => fail()), steps: [codeStep({ name: 'one', run: () => 1 })], finish: () => 1 }),
      inputEvents({}),
    );
    expect(end.state).toBe('failed');
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'failed', data: { reason: expect.stringMatching(/^invalid pipeline output: .*schema bug/) } });
  });

  it("an agent step's output schema", async () => {
    const step = { kind: 'agent' as const, name: 'ask', agent: 'helper', input: () => 'q', output: z.string().transform(() => fail()) };
    const end = await runPipeline(pipeline({ ...head, name: 'ask', steps: [step], finish: () => null }), inputEvents({}), { children: instantChildren(() => 'answer') });
    expect(end.state).toBe('failed');
    expect(end.thread.events.at(-1)).toMatchObject({ type: 'failed', data: { reason: expect.stringMatching(/^step ask: agent helper returned an invalid output: .*schema bug/) } });
  });
});
