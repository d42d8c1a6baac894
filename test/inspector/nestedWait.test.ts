/**
 * A pipeline waiting on a child pipeline (QA27 inspect D9): the card says what the chain waits for at
 * its end, a thread that waits for a human two levels down with its request and a link to it, not
 * only that the child pipeline is `running`.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
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
