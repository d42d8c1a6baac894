/**
 * A pipeline waiting on a child pipeline (QA27 inspect D9): the card says what the chain waits for at
 * its end, a thread that waits for a human two levels down with its request and a link to it, not
 * only that the child pipeline is `running`.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

describe('a pipeline waiting on a child pipeline', () => {
  it('says which thread down the chain waits for a human, and what it asks', async () => {
    const inner = pipeline({ name: 'inner', description: 'has the calculator divide', input: z.object({}), output: z.unknown() })
      .agent({ name: 'divide', agent: 'calculator', input: () => 'divide 7 by 2' })
      .finish(({ results }) => results.divide);
    const outer = pipeline({ name: 'outer', description: 'runs inner', input: z.object({}), output: z.unknown() })
      .agent({ name: 'run', agent: 'inner', input: () => ({}) })
      .finish(({ results }) => results.run);
    const server = await startInspectorServer({ pipelines: [inner, outer] });
    cleanups.push(() => server.close());
    await server.runtime.launch('outer', {}, { threadId: 'p-outer' });
    const waiting = 'p-outer--run--divide';
    await expect.poll(async () => (await server.runtime.get(waiting))?.status, { timeout: 10_000 }).toBe('awaiting_human');
    const { page, errors } = await open(server, '#thread=p-outer');

    const card = page.locator('#waiting-on');
    await expect.poll(() => card.textContent()).toContain('waiting on inner thread p-outer--run');
    await expect.poll(() => card.textContent()).toContain(`through it on calculator thread ${waiting}, which is awaiting_human`);
    expect(await card.textContent()).toContain('approval request: Approve divide({"a":7,"b":2})?');
    expect(await card.locator(`a[href="#thread=${encodeURIComponent(waiting)}"]`).count()).toBe(1);
    expect(errors).toEqual([]);
  });
});

describe('a pipeline waiting on a child pipeline, live', () => {
  it('reads the card again when the thread at the end of the chain moves on to another request', async () => {
    // The calculator asks twice, then finishes: between the two, no pipeline of the chain moves.
    const asks = scriptedModel([], {
      whenExhausted: ({ context }: ModelRequest): ScriptedReply => {
        const answers = context.split('<human_response').length - 1;
        if (answers === 0) return { intent: 'request_human_input', args: { question: 'first question?', format: 'free_text' } };
        if (answers === 1) return { intent: 'request_human_input', args: { question: 'second question?', format: 'free_text' } };
        return { intent: 'done_for_now', args: { message: 'thanks' } };
      },
    });
    const inner = pipeline({ name: 'inner', description: 'has the calculator ask', input: z.object({}), output: z.unknown() })
      .agent({ name: 'ask', agent: 'calculator', input: () => 'ask twice' })
      .finish(({ results }) => results.ask);
    const outer = pipeline({ name: 'outer', description: 'runs inner', input: z.object({}), output: z.unknown() })
      .agent({ name: 'run', agent: 'inner', input: () => ({}) })
      .finish(({ results }) => results.run);
    const server = await startInspectorServer({ pipelines: [inner, outer], model: asks });
    cleanups.push(() => server.close());
    await server.runtime.launch('outer', {}, { threadId: 'p-live' });
    const end = 'p-live--run--ask';
    await expect.poll(async () => (await server.runtime.get(end))?.pendingRequest?.question, { timeout: 10_000 }).toBe('first question?');
    const { page, errors } = await open(server, '#thread=p-live');
    const card = page.locator('#waiting-on');
    await expect.poll(() => card.textContent()).toContain('input request: first question?');

    const first = (await server.runtime.get(end))!.pendingRequest!;
    await server.runtime.respond(end, { requestId: first.requestId, answer: 'one' });
    await expect.poll(async () => (await server.runtime.get(end))?.pendingRequest?.question, { timeout: 10_000 }).toBe('second question?');
    await expect.poll(() => card.textContent()).toContain('input request: second question?');
    expect(errors).toEqual([]);
  });
});
