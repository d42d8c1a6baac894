import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { decideStep } from '../../src/agent/decideStep.js';
import { tool } from '../../src/agent/tool.js';
import { silentLogger } from '../../src/logger.js';
import type { Model, ModelOutput } from '../../src/model/model.js';
import { parseNextStep } from '../../src/model/nextStep.js';
import { createFileStore } from '../../src/store/fileStore.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { validateResponse } from '../../src/thread/humanResponse.js';
import { deriveState } from '../../src/thread/state.js';
import { parseEvents } from '../../src/thread/thread.js';
import { add, divide } from '../../tools/calculator.js';
import { threadOf, T0 } from '../support/agentHarness.js';
import { hostileAnswer } from '../model/modelAnswerArbitrary.js';

const calc = agent({ name: 'calc', description: 'does sums', prompt: 'You are {{agent}}.\n{{tools}}\n{{context}}', tools: [add, divide] });

/** A tool with optional arguments, one of them secret-named (so its arguments are redacted, copied). */
const send = tool({
  name: 'send',
  description: 'Send a message',
  input: z.object({ token: z.string().optional(), to: z.string().optional(), options: z.object({ cc: z.string().optional() }).optional() }),
  run: () => null,
});
const mailer = agent({ name: 'mailer', description: 'sends', prompt: 'You are {{agent}}.\n{{context}}', tools: [send] });

/** A model that answers `output` once. */
const answering = (output: ModelOutput): Model => ({ name: 'm', complete: async () => ({ success: true, data: output }) });

describe('decideStep with any model answer (property)', () => {
  it('never throws, and appends only events a store reads back as they were written', async () => {
    // Token counts as a misbehaving server or a model of the user's may report them.
    const count = fc.oneof(
      { arbitrary: fc.nat(100_000), weight: 4 },
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, 1.5, 2 ** 53, 1e20, Number.MAX_VALUE),
    );
    await fc.assert(
      fc.asyncProperty(hostileAnswer, count, count, async (answer, prompt, completion) => {
        const output: ModelOutput = { ...answer, usage: { prompt, completion } };
        const clock = new SimulatedClock();
        clock.set(T0);
        const store = createMemoryStore({ clock });
        const thread = await store.create(threadOf('t-1', 'calc', [{ type: 'input', data: { input: 'go' } }]));
        const deps = { model: answering(output), store, clock, logger: silentLogger() };
        const { thread: after } = await decideStep({ agent: calc, thread, state: deriveState(thread.events), deps }, new AbortController());

        const added = after.events.slice(1);
        expect(added.length).toBeGreaterThanOrEqual(1);
        expect(await store.get('t-1')).toEqual(after);
        // What a file or KV store writes and reads back: JSON, then the event schemas.
        const reread = parseEvents(JSON.parse(JSON.stringify(after.events)));
        expect(reread).toEqual({ success: true, data: after.events });

        const parsed = parseNextStep(output);
        const first = added[0]!;
        if (!parsed.success) {
          expect(first).toMatchObject({ type: 'error', data: { kind: 'invalid_json' } });
          expect(parsed.error.startsWith((first.data as { message: string }).message.replace(/…$/, ''))).toBe(true);
        } else if (first.type === 'error') {
          expect(['unknown_intent', 'invalid_args']).toContain(first.data.kind);
        } else {
          expect(first).toMatchObject({ type: 'decision', data: { intent: parsed.data.intent } });
        }
      }),
      { numRuns: 200, seed: 11 },
    );
  });

  it('an answer nested 300 levels deep leaves a thread file that reads back (it was "corrupt")', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-decide-'));
    try {
      const clock = new SimulatedClock();
      clock.set(T0);
      const store = await createFileStore({ dir, clock, fsync: false });
      const thread = await store.create(threadOf('t-deep', 'calc', [{ type: 'input', data: { input: 'go' } }]));
      const text = `{"intent":"add","a":1,"b":2,"x":${'['.repeat(300)}${']'.repeat(300)}}`;
      const deps = { model: answering({ text, usage: { prompt: 1, completion: 1 }, model: 'm' }), store, clock, logger: silentLogger() };
      const { thread: after } = await decideStep({ agent: calc, thread, state: deriveState(thread.events), deps }, new AbortController());
      expect(after.events[1]).toMatchObject({ type: 'error', data: { kind: 'invalid_json' } });
      await store.close();
      const reopened = await createFileStore({ dir, clock, fsync: false, cacheSize: 0 });
      expect(await reopened.get('t-deep')).toEqual(after);
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the tool would run with exactly the arguments the log records, whatever keys the answer uses', async () => {
    const key = fc.constantFrom('token', 'to', 'options', 'cc', '__proto__', 'constructor', 'x');
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, fc.constantFrom('abc', 'mallory@example.com', 1, null), fc.dictionary(key, tie('value'), { maxKeys: 3 })),
    }));
    await fc.assert(
      fc.asyncProperty(fc.dictionary(key, value, { maxKeys: 4 }), fc.boolean(), async (args, asToolCall) => {
        const clock = new SimulatedClock();
        clock.set(T0);
        const store = createMemoryStore({ clock });
        const thread = await store.create(threadOf('t-1', 'mailer', [{ type: 'input', data: { input: 'go' } }]));
        const text = JSON.stringify({ intent: 'send', args });
        const output: ModelOutput = asToolCall
          ? { toolCall: { name: 'send', arguments: JSON.stringify(args) }, usage: { prompt: 1, completion: 1 }, model: 'm' }
          : { text, usage: { prompt: 1, completion: 1 }, model: 'm' };
        const deps = { model: answering(output), store, clock, logger: silentLogger() };
        const { thread: after } = await decideStep({ agent: mailer, thread, state: deriveState(thread.events), deps }, new AbortController());
        const call = after.events.find((e) => e.type === 'tool_call');
        if (call === undefined) return;
        // What runs now (the in-memory args) and what a restart reads from the log must be one input.
        const recorded = JSON.parse(JSON.stringify(call.data.args)) as unknown;
        expect(send.parse(call.data.args)).toEqual(send.parse(recorded));
      }),
      { numRuns: 200, seed: 12 },
    );
  });

  it('every question a decision asks a human can be answered by some response', async () => {
    const ask = fc.record(
      {
        question: fc.oneof(fc.constant('Which one?'), fc.string({ maxLength: 8 })),
        context: fc.string({ maxLength: 8 }),
        urgency: fc.constantFrom('low', 'medium', 'high'),
        format: fc.constantFrom('free_text', 'yes_no', 'multiple_choice'),
        choices: fc.array(fc.oneof(fc.constantFrom('', ' ', 'red', ' blue '), fc.string({ maxLength: 6 })), { maxLength: 3 }),
      },
      { requiredKeys: ['question'] },
    );
    await fc.assert(
      fc.asyncProperty(ask, async (args) => {
        const clock = new SimulatedClock();
        clock.set(T0);
        const store = createMemoryStore({ clock });
        const thread = await store.create(threadOf('t-1', 'calc', [{ type: 'input', data: { input: 'go' } }]));
        const output: ModelOutput = { toolCall: { name: 'request_human_input', arguments: JSON.stringify(args) }, usage: { prompt: 1, completion: 1 }, model: 'm' };
        const deps = { model: answering(output), store, clock, logger: silentLogger() };
        const { thread: after } = await decideStep({ agent: calc, thread, state: deriveState(thread.events), deps }, new AbortController());
        const request = after.events.find((e) => e.type === 'human_request');
        if (request === undefined) {
          expect(after.events.at(-1)).toMatchObject({ type: 'error', data: { kind: 'invalid_args' } });
          return;
        }
        const { data } = request;
        // The answer a person would give: yes, the first choice, or some text.
        const answer = data.format === 'yes_no' ? 'yes' : (data.choices?.find((c) => c.trim() !== '') ?? 'fine');
        expect(validateResponse(data, { requestId: data.requestId, answer })).toMatchObject({ success: true });
      }),
      { numRuns: 200, seed: 14 },
    );
  });
});
