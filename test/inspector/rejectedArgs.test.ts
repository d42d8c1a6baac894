/**
 * The inspector's timeline item of an error of a refused decision (`invalid_args`,
 * `unknown_intent`) shows the arguments the model sent (`args`), clipped, as text (QA20 debug D7
 * follow-up), in a real browser.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open: openPage } = browserForTests();

describe('the inspector’s timeline item of a refused decision', () => {
  it('shows the arguments the model sent under the error’s message, clipped, and none on an error without them', async () => {
    const store = createMemoryStore();
    const message = 'lookup: id: Invalid input: expected string, received undefined';
    const events: NewEvent[] = [
      { type: 'input', data: { input: 'find A-1' } },
      { type: 'error', data: { kind: 'invalid_args', tool: 'lookup', message, attempt: 1, args: { identifier: '<b>42</b>' } } },
      { type: 'error', data: { kind: 'unknown_intent', message: 'find_item is not a tool', attempt: 2, args: { note: 'z'.repeat(3000) } } },
      { type: 'error', data: { kind: 'tool_error', tool: 'lookup', message: 'boom', attempt: 1 } },
      { type: 'failed', data: { reason: 'gave up' } },
    ];
    await store.create({ id: 'th-args', agent: 'calculator', events: stampEvents(0, events, new Date().toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await openPage(server, '#thread=th-args');
    const bodies = page.locator('#timeline li[data-type="error"] .body');
    await expect.poll(() => bodies.count()).toBe(3);
    expect(await bodies.nth(0).textContent()).toBe(`${message}\nargs: {"identifier":"<b>42</b>"}`);
    // Shown as text: the page made no element of the model's markup.
    expect(await page.locator('#timeline b').count()).toBe(0);
    const long = (await bodies.nth(1).textContent())!;
    expect(long).toMatch(/^find_item is not a tool\nargs: \{"note":"z+…$/);
    expect(long.length).toBeLessThan(500);
    expect(await bodies.nth(2).textContent()).toBe('boom');
    expect(errors).toEqual([]);
  });
});
