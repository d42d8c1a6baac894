/**
 * A launch input with a key its agent's (or pipeline's) plain `z.object()` input does not list (a
 * typo such as `ammount`) is refused, naming the key, as a tool's arguments are: stripping it would
 * lose what the caller meant without a word. The same on every surface (TypeScript, HTTP; NATS
 * triggers and the CLI launch through the same check). `z.looseObject()` and `.catchall()` take such
 * keys; an inbound webhook's body (someone else's format) and a pipeline's child (its step's code
 * computes the input) keep zod's stripping.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent, createMemoryStore, createRuntime, InvalidInputError, type Agent } from '../../src/index.js';
import { createHttpApp } from '../../src/server/httpServer.js';
import { checkLaunch } from '../../src/runtime/launching.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { scriptedModel } from '../../src/testing/index.js';

const prompt = 'You are {{agent}}.\nTools:\n{{tools}}';
const refunds = agent({ name: 'refunds', description: 'refunds orders', prompt, tools: [], input: z.object({ orderId: z.string(), amount: z.number().optional() }) });
const loose = agent({ name: 'loose', description: 'takes any keys', prompt, tools: [], input: z.looseObject({ orderId: z.string() }) });
const flow = pipeline({ name: 'flow', description: 'refunds in a pipeline', input: z.object({ orderId: z.string() }), output: z.string() })
  .agent({ name: 'refund', agent: 'refunds', input: ({ input }) => ({ orderId: input.orderId }) })
  .finish(() => 'ok');

function runtimeOf() {
  return createRuntime({
    agents: [refunds, loose],
    pipelines: [flow],
    store: createMemoryStore(),
    model: scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } }),
  });
}

describe('a launch input with a key its input schema does not list', () => {
  it('is refused by runtime.launch, naming the key, and nothing is launched', async () => {
    const runtime = runtimeOf();
    try {
      const refused = await runtime.launch('refunds', { orderId: 'A1', ammount: 5 } as never).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(InvalidInputError);
      expect(refused).toMatchObject({ message: 'invalid input for agent refunds', issues: [expect.stringContaining('"ammount"')] });
      const pipelineRefused = await runtime.launch('flow', { orderId: 'A1', extra: 1 } as never).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(pipelineRefused).toMatchObject({ message: 'invalid input for pipeline flow', issues: [expect.stringContaining('"extra"')] });
      expect(await runtime.list()).toHaveLength(0);
    } finally {
      await runtime.close();
    }
  });

  it('is refused by POST /threads with 400 naming the key', async () => {
    const runtime = runtimeOf();
    try {
      const app = createHttpApp(runtime, { token: '' });
      const res = await app.request('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'refunds', input: { orderId: 'E1', extr: 1 } }) });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toContain('"extr\\"');
      expect(await runtime.list()).toHaveLength(0);
    } finally {
      await runtime.close();
    }
  });

  it('is taken by a loose object, and kept for a webhook body and a pipeline child', () => {
    const sources = { agents: new Map<string, Agent>([[refunds.name, refunds], [loose.name, loose]]), pipelines: new Map(), scheduled: false };
    expect(checkLaunch(sources, 'loose', { orderId: 'A', note: 'x' }).json).toEqual({ orderId: 'A', note: 'x' });
    expect(checkLaunch(sources, 'refunds', { orderId: 'A', action: 'opened' }, { source: { kind: 'webhook' } }).json).toEqual({ orderId: 'A', action: 'opened' });
    expect(checkLaunch(sources, 'refunds', { orderId: 'A', more: 1 }, { source: { kind: 'pipeline', parentId: 'p1' } }).json).toEqual({ orderId: 'A', more: 1 });
  });
});

describe('a relaunch of a thread already there, whose input has a key the schema does not list (review: redelivery refused)', () => {
  it('returns the thread for the same input and refuses another input as thread_exists_other_input; a new thread is still refused the key', async () => {
    const store = createMemoryStore();
    // Recorded by the build before, whose schema listed `note`.
    const input = { orderId: 'A1', note: 'rush' };
    await store.create({ id: 'trig-1', agent: 'refunds', events: [{ seq: 1, at: new Date(0).toISOString(), type: 'input', data: { input, source: { kind: 'nats', triggerId: 'm1' } } }] });
    const runtime = createRuntime({ agents: [refunds], store, model: scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'ok' } } }) });
    try {
      const again = await runtime.launch('refunds', input as never, { threadId: 'trig-1', source: { kind: 'nats', triggerId: 'm1' } });
      expect(again.id).toBe('trig-1');
      const other = await runtime.launch('refunds', { orderId: 'A1', note: 'slow' } as never, { threadId: 'trig-1', source: { kind: 'nats' } }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(other).toMatchObject({ conflict: 'thread_exists_other_input' });
      const fresh = await runtime.launch('refunds', input as never, { threadId: 'trig-2', source: { kind: 'nats' } }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(fresh).toBeInstanceOf(InvalidInputError);
      expect(await runtime.get('trig-2')).toBeUndefined();
    } finally {
      await runtime.close();
    }
  });
});
