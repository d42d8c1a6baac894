/**
 * Factor 3, owned by the agent's author: a context function that replaces the renderer (reusing
 * its pieces), prompt variables of the author, and a compaction hook when the budget is exceeded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agent, type AgentOptions } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { z } from 'zod';
import { customStepDue, stepEvents } from '../../src/agent/customStepRun.js';
import { promptHash } from '../../src/agent/prompt.js';
import { agentContext, contextHelpers } from '../../src/context/ownContext.js';
import { renderContext } from '../../src/context/renderContext.js';
import { ConfigError } from '../../src/errors.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { parseContext } from '../../src/context/parseContext.js';
import type { CustomData, NewEvent, Thread, ThreadEvent } from '../../src/thread/events.js';
import { deriveState } from '../../src/thread/state.js';
import { calculatorTools } from '../../tools/calculator.js';
import { eventsOf, runToEnd, startRun, threadOf } from '../support/agentHarness.js';

const done = (message = 'all done'): ScriptStep => ({ intent: 'done_for_now', args: { message } });
const add = (a: number, b: number): ScriptStep => ({ intent: 'add', args: { a, b } });

function customAgent(options: Partial<AgentOptions> = {}) {
  return agent({
    name: 'own',
    description: 'a test agent',
    prompt: 'You are {{agent}}.\n{{tools}}',
    tools: calculatorTools,
    ...options,
  });
}

describe('agent({ context })', () => {
  it('replaces the renderer; the helpers render events as the default does; secrets are redacted anyway', async () => {
    const a = customAgent({
      secrets: ['hunter2'],
      context: (thread, helpers) => {
        const lines = thread.events.filter((e) => e.type !== 'input').map((e) => helpers.renderEvent(e)).filter((b) => b !== null);
        const input = thread.events[0]!.type === 'input' ? JSON.stringify(thread.events[0]!.data.input) : '';
        // The author forgets to redact the input: the runtime still does.
        return { text: `TASK ${input}\nSTEPS ${helpers.state.steps}/${helpers.budget}\n${lines.join('\n')}`, tokens: 42 };
      },
      contextBudget: 500,
    });
    const model = scriptedModel([add(2, 3), done('5')]);
    const { actor, clock } = await startRun({ agent: a, model, input: 'add 2 and 3, password hunter2' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(model.requests[0]!.context).toBe('TASK "add 2 and 3, password [REDACTED]"\nSTEPS 0/500\n');
    expect(model.requests[1]!.context).toContain('STEPS 1/500');
    expect(model.requests[1]!.context).toContain('<tool_result');
    expect(eventsOf(end.thread, 'decision')[0]!.data.tokens).toBeDefined();
  });

  it('a context function that throws or returns nonsense is a step_error, never a crash', async () => {
    let calls = 0;
    const a = customAgent({
      maxConsecutiveErrors: 2,
      context: () => {
        calls++;
        if (calls === 1) throw new Error('my renderer broke');
        return 42 as unknown as string;
      },
    });
    const model = scriptedModel([done()]);
    const { actor, clock } = await startRun({ agent: a, model });
    const end = await runToEnd(actor, clock);
    expect(end.state).toBe('escalated');
    const errors = eventsOf(end.thread, 'error').map((e) => e.data);
    expect(errors.map((e) => e.kind)).toEqual(['step_error', 'step_error']);
    expect(errors[0]!.message).toContain('my renderer broke');
    expect(errors[1]!.message).toContain('must return a string');
    expect(model.requests).toHaveLength(0);
  });

  it('the helpers expose the default renderer, budget and token estimate', () => {
    const a = customAgent({ contextBudget: 1234, secrets: ['s3cret'] });
    const thread = threadOf('t-h', a.name, [{ type: 'input', data: { input: 'say s3cret' } }]);
    const helpers = contextHelpers(a, thread);
    expect(helpers.budget).toBe(1234);
    expect(helpers.renderDefault().text).toBe(renderContext(a, thread).text);
    expect(helpers.redact('a s3cret b')).toBe('a [REDACTED] b');
    expect(helpers.redactJson({ k: 's3cret' })).toEqual({ k: '[REDACTED]' });
    expect(helpers.estimateTokens('abcdefgh')).toBe(2);
    expect(agentContext(a, thread)).toEqual(renderContext(a, thread));
  });
});

describe('prompt variables of the author', () => {
  it('fills text and thread-derived values; the prompt hash follows the rendered text', async () => {
    const a = customAgent({
      prompt: 'You are {{agent}} for {{company}}. Step {{step}}.\n{{tools}}',
      variables: { company: 'Acme', step: (_thread, state) => String(state.steps + 1) },
    });
    const model = scriptedModel([add(1, 1), done()]);
    const { actor, clock } = await startRun({ agent: a, model });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(model.requests[0]!.system).toContain('You are own for Acme. Step 1.');
    expect(model.requests[1]!.system).toContain('Step 2.');
    const [first, second] = eventsOf(end.thread, 'decision');
    expect(first!.data.promptHash).not.toBe(second!.data.promptHash);
  });

  it('hashes the tools sent with the prompt: a changed schema or description is another prompt, the same tools the same (qa25-context #2)', async () => {
    const hashOf = async (tools: AgentOptions['tools']): Promise<string> => {
      const model = scriptedModel([add(1, 1), done()]);
      const { actor, clock } = await startRun({ agent: customAgent({ prompt: 'You are {{agent}}.', tools }), model });
      const end = await runToEnd(actor, clock);
      return eventsOf(end.thread, 'decision')[0]!.data.promptHash;
    };
    const [adding, ...others] = calculatorTools as [AgentOptions['tools'][number], ...AgentOptions['tools']];
    const described = tool({ name: 'add', description: 'Add two numbers, exactly', input: z.object({ a: z.number(), b: z.number() }), idempotent: true, run: ({ a, b }) => a + b });
    const reshaped = tool({ name: 'add', description: adding.description, input: z.object({ a: z.number(), b: z.number(), round: z.boolean().optional() }), idempotent: true, run: ({ a, b }) => a + b });
    const base = await hashOf([adding, ...others]);
    expect(await hashOf([adding, ...others])).toBe(base);
    expect(await hashOf([described, ...others])).not.toBe(base);
    expect(await hashOf([reshaped, ...others])).not.toBe(base);
  });

  it("redacts the agent's secrets from a variable's value, as from the context: the system prompt the model receives holds [REDACTED]", async () => {
    const a = customAgent({
      secrets: ['hunter2'],
      prompt: 'You are {{agent}} for {{customer}}.\n{{tools}}',
      // Computed from the thread: the launch input, which is stored as given.
      variables: { customer: (thread) => JSON.stringify(thread.events[0]!.data) },
    });
    const model = scriptedModel([add(1, 1), done()]);
    const { actor, clock } = await startRun({ agent: a, model, input: 'vip with hunter2' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    expect(model.requests).toHaveLength(2);
    for (const request of model.requests) {
      expect(request.system).toContain('You are own for {"input":"vip with [REDACTED]"}.');
      expect(request.system).not.toContain('hunter2');
      expect(request.context).not.toContain('hunter2');
    }
    // The hash recorded is that of the prompt sent, with the tools sent.
    expect(eventsOf(end.thread, 'decision')[0]!.data.promptHash).toBe(promptHash(model.requests[0]!.system, a.toolsDigest));
  });

  it('refuses a built-in redefined, a bad name, and an unknown variable', () => {
    expect(() => customAgent({ variables: { agent: 'x' } })).toThrow(ConfigError);
    expect(() => customAgent({ variables: { 'not ok': 'x' } })).toThrow(/letters, digits/);
    expect(() => customAgent({ prompt: 'Hi {{nobody}}' })).toThrow(/unknown variable \{\{nobody\}\}/);
  });
});

describe('agent({ compact })', () => {
  it('summarizes once when the context exceeds the budget; the summary stands for the events it covers', async () => {
    const summaries: number[] = [];
    const a = customAgent({
      contextBudget: 120,
      compact: (thread, helpers) => {
        summaries.push(thread.events.length);
        return `so far ${helpers.state.steps} additions; the last result was 21`;
      },
    });
    const script = [add(1, 2), add(3, 4), add(5, 6), add(10, 11), done('21')];
    const model = scriptedModel(script);
    const { actor, clock } = await startRun({ agent: a, model, input: 'add many numbers, one pair after another, and report the last sum' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    const compactions = end.thread.events.filter((e) => e.type === 'custom').map((e) => e.data as CustomData);
    expect(compactions.length).toBeGreaterThanOrEqual(1);
    expect(compactions.length).toBe(summaries.length);
    expect(compactions[0]).toMatchObject({ step: 'compact', phase: 'compact', output: expect.stringContaining('so far') });
    // The decision after the first compaction sees the summary instead of the events it covers.
    const firstCompaction = end.thread.events.find((e) => e.type === 'custom')!;
    const after = model.requests[eventsOf({ ...end.thread, events: end.thread.events.slice(0, firstCompaction.seq) }, 'decision').length]!;
    // In place of the oldest events, right after the input (which always stays); the newest
    // events stay as they were, and nothing is dropped any more.
    expect(after.context).toMatch(/^<input>\nadd many numbers[^]*<\/input>\n<summary of="\d+">\nso far \d additions/);
    expect(after.context).not.toContain('"a":1,"b":2');
    expect(after.context).toContain('{"a":10,"b":11}');
    expect(after.context).not.toContain('<omitted');
    // The summarizer was handed only the events its summary stands for.
    expect(summaries[0]).toBeLessThan(firstCompaction.seq - 1);
  });

  it('a second compaction covers and receives the first summary; the model then sees one summary, the latest, before the newer events', async () => {
    const received: Thread[] = [];
    const a = customAgent({
      contextBudget: 120,
      compact: (thread) => {
        received.push(thread);
        return `summary ${received.length}`;
      },
    });
    const model = scriptedModel([add(1, 2), add(3, 4), add(5, 6), add(7, 8), add(9, 10), add(11, 12), add(13, 14), done('27')]);
    const { actor, clock } = await startRun({ agent: a, model, input: 'add many numbers, one pair after another, and report the last sum' });
    const end = await runToEnd(actor, clock);
    expect(end.status).toBe('done');
    const compactions = end.thread.events.filter((e) => e.type === 'custom' && e.data.phase === 'compact');
    expect(compactions.length).toBeGreaterThanOrEqual(2);
    const [first, second] = compactions as [ThreadEvent, ThreadEvent];
    // The second summary stands for everything before its cut, the first summary included, and
    // its summarizer was handed that summary to fold in.
    expect((second.data as CustomData).upTo).toBeGreaterThanOrEqual(first.seq);
    expect(received[1]!.events.map((e) => e.seq)).toContain(first.seq);
    expect(received[1]!.events.at(-1)!.seq).toBe((second.data as CustomData).upTo);
    // The decision right after the second compaction sees one summary, the latest, right after the
    // input, then the newer events in the order they happened.
    const after = model.requests[eventsOf({ ...end.thread, events: end.thread.events.slice(0, second.seq) }, 'decision').length]!;
    const blocks = parseContext(after.context);
    expect(blocks.filter((b) => b.tag === 'summary')).toEqual([{ tag: 'summary', attrs: { of: String((second.data as CustomData).upTo) }, body: 'summary 2' }]);
    expect(blocks.slice(0, 2).map((b) => b.tag)).toEqual(['input', 'summary']);
    const steps = blocks.filter((b) => b.tag === 'decision').map((b) => Number(b.attrs.step));
    expect(steps.length).toBeGreaterThan(0);
    expect(steps).toEqual([...steps].sort((x, y) => x - y));
  });

  it('for any turns and the compactions they make due, the context shows at most one summary, the latest, then the events in order', async () => {
    // A turn: a decision and its tool result of some length (long ones overflow the budget).
    const turns = fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 30 });
    await fc.assert(
      fc.asyncProperty(turns, fc.constantFrom(150, 300, 600), async (lengths, contextBudget) => {
        const received: Thread[] = [];
        const a = customAgent({
          contextBudget,
          compact: (thread) => {
            received.push(thread);
            return `summary ${received.length}`;
          },
        });
        let events: NewEvent[] = [{ type: 'input', data: { input: 'go' } }];
        let thread = threadOf(`prop-${contextBudget}-${lengths.join('.')}`, 'own', events);
        for (const [n, length] of lengths.entries()) {
          events = [
            ...events,
            { type: 'decision', data: { callId: `c${n}`, step: n + 1, intent: 'add', args: { a: n, b: 0 }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 1 } },
            { type: 'tool_result', data: { callId: `c${n}`, tool: 'add', result: 'x'.repeat(length), durationMs: 1 } },
          ];
          thread = threadOf(thread.id, 'own', events);
          if (customStepDue(a, a.compact!, thread, deriveState(thread.events))) {
            const before = deriveState(thread.events).compaction;
            const [summary] = await stepEvents(a, 'compact', thread);
            const data = summary!.data as CustomData;
            // It covers the summary before it, which its summarizer was handed.
            if (before !== null) {
              expect(data.upTo).toBeGreaterThanOrEqual(before.seq);
              expect(received.at(-1)!.events.map((e) => e.seq)).toContain(before.seq);
            }
            events = [...events, summary!];
            thread = threadOf(thread.id, 'own', events);
          }
          const blocks = parseContext(renderContext(a, thread).text);
          const summaries = blocks.filter((b) => b.tag === 'summary');
          expect(summaries.length).toBeLessThanOrEqual(1);
          if (summaries.length === 1) {
            expect(blocks[1]!.tag).toBe('summary');
            expect(summaries[0]!.body).toBe(`summary ${received.length}`);
          }
          const calls = blocks.filter((b) => b.tag === 'tool_result').map((b) => Number(b.attrs.call!.slice(1)));
          expect(calls).toEqual([...calls].sort((x, y) => x - y));
          expect(new Set(calls).size).toBe(calls.length);
        }
      }),
      { numRuns: 150 },
    );
  });
});
