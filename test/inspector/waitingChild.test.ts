/**
 * A pipeline opened right after it delegated a step (QA22 inspector #7): its child is journaled
 * before it is launched, so the page may read it before it exists. The page asks the inspector's
 * API for it in a way that answers 200 `null` then (no red `404` in the console for the team),
 * while an unknown thread read plainly is still a 404.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

const CHILD = 'p-report--research';

describe('a pipeline waiting on a child not launched yet', () => {
  it('shows which child it waits on without a failed request in the console', async () => {
    const store = createMemoryStore();
    const events: NewEvent[] = [
      { type: 'input', data: { input: { topic: 'tides' } } },
      { type: 'tool_call', data: { callId: 'step_research', tool: 'research', args: { threadId: CHILD, agent: 'researcher', input: 'tides' }, idempotencyKey: 'p-report:step_research', attempt: 1 } },
    ];
    await store.create({ id: 'p-report', agent: 'report', events: stampEvents(0, events, new Date().toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server, '#thread=p-report');
    await expect.poll(() => page.locator('#waiting-on').textContent()).toContain(`waiting on researcher thread ${CHILD}`);
    // The card asked for the child, and that read is over (as the browser's resource timing says).
    const childReads = () => page.evaluate((path) => performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname === path).length, `/inspector/api/threads/${CHILD}`);
    await expect.poll(childReads).toBeGreaterThan(0);
    expect(await page.locator('#waiting-on').textContent()).not.toContain('which is');
    expect(errors).toEqual([]);

    // The plain read of an unknown thread is still a 404; the page's read of a child answers null.
    expect((await fetch(`${server.url}/inspector/api/threads/${CHILD}`)).status).toBe(404);
    const asChild = await fetch(`${server.url}/inspector/api/threads/${CHILD}?missing=null`);
    expect(asChild.status).toBe(200);
    expect(await asChild.json()).toBeNull();
  });

  it('marks on its chart the step it waits in, and lights only that step’s line into waitingForChild (QA22 inspector #7)', async () => {
    const twice = pipeline({ name: 'twice', description: 'has the calculator add, then ask', input: z.object({}), output: z.unknown() })
      .agent({ name: 'add', agent: 'calculator', input: () => 'add 2 and 3' })
      .agent({ name: 'ask', agent: 'calculator', input: () => 'ask for the unit' })
      .finish(({ results }) => results.ask);
    const server = await startInspectorServer({ pipelines: [twice] });
    cleanups.push(() => server.close());
    await server.runtime.launch('twice', {}, { threadId: 'p-twice' });
    await expect.poll(async () => (await server.runtime.get('p-twice--ask'))?.status, { timeout: 10_000 }).toBe('awaiting_human');
    const { page, errors } = await open(server, '#thread=p-twice');

    const node = (key: string) => page.locator(`#chart .node[data-state="${key}"]`);
    await expect.poll(() => node('waitingForChild').getAttribute('class')).toContain('active');
    await expect.poll(() => node('step_ask').getAttribute('class')).toContain('via');
    expect(await node('step_add').getAttribute('class')).not.toContain('via');
    const hot = await page.locator('#chart .edge.hot').evaluateAll((edges) => edges.map((e) => e.getAttribute('data-touches')));
    expect(hot).toContain('step_ask waitingForChild');
    expect(hot).not.toContain('step_add waitingForChild');
    expect(errors).toEqual([]);
  });
});
