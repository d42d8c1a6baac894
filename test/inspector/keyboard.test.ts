/**
 * The inspector from the keyboard (QA22 inspector #4): thread rows and live-actor rows take the
 * focus and open their thread with Enter; the arrows move along the list; every control has a name
 * of its own; a pipeline's thread says it is a pipeline's.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

const text = (page: Page, selector: string) => page.locator(selector).textContent();
const focusedId = (page: Page) => page.evaluate(`document.activeElement?.getAttribute('data-id') ?? document.activeElement?.getAttribute('data-key') ?? document.activeElement?.id`);

describe('the inspector from the keyboard', () => {
  it('focuses and opens threads and live actors with the keyboard, and names each control once', async () => {
    const sums = pipeline({ name: 'sums', description: 'has the calculator add', input: z.object({}), output: z.unknown() })
      .agent({ name: 'add', agent: 'calculator', input: () => 'add 2 and 3' })
      .finish(({ results }) => results.add);
    const server = await startInspectorServer({ pipelines: [sums] });
    cleanups.push(() => server.close());
    for (const threadId of ['th-a', 'th-b']) {
      await server.runtime.launch('calculator', 'add 2 and 3', { threadId });
      await server.runtime.settled(threadId);
    }
    await server.runtime.launch('sums', {}, { threadId: 'p-sums' });
    await server.runtime.settled('p-sums');
    const { page, errors } = await open(server);
    await expect.poll(() => page.locator('.thread-row').count()).toBe(4);
    const order = await page.locator('.thread-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));

    // Tab reaches the first row; the arrows move along; Enter opens.
    await page.locator('#filter-text').focus();
    await page.keyboard.press('Tab');
    expect(await focusedId(page)).toBe(order[0]);
    await page.keyboard.press('ArrowDown');
    expect(await focusedId(page)).toBe(order[1]);
    await page.keyboard.press('Enter');
    await expect.poll(() => text(page, '#thread-title')).toBe(order[1]);
    expect(await page.locator(`.thread-row[data-id="${order[1]}"]`).getAttribute('aria-current')).toBe('true');
    // Rows drawn again (the thread opened) keep the focus where it was.
    expect(await focusedId(page)).toBe(order[1]);
    await page.keyboard.press('End');
    expect(await focusedId(page)).toBe(order[3]);
    await page.keyboard.press(' ');
    await expect.poll(() => text(page, '#thread-title')).toBe(order[3]);

    // A live actor's row opens its thread too.
    const actor = page.locator('#actors tr.agent-row', { hasText: 'th-a' }).first();
    await actor.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => text(page, '#thread-title')).toBe('th-a');

    // A pipeline's thread says so.
    await page.evaluate(`location.hash = '#thread=p-sums'`);
    await expect.poll(() => text(page, '#thread-agent')).toBe('pipeline sums');
    await page.evaluate(`location.hash = '#thread=th-b'`);
    await expect.poll(() => text(page, '#thread-agent')).toBe('agent calculator');

    // No two controls share a name.
    const names = await page.locator('select, input, button').evaluateAll((all) => all.map((c) => c.getAttribute('aria-label') ?? c.textContent));
    expect(names.length).toBe(new Set(names).size);
    expect(errors).toEqual([]);
  });
});
