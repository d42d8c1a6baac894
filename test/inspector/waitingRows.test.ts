/**
 * The thread list says what a waiting thread asks: its row has a line more (the kind, the tool and
 * its arguments or the question, cut to fit), the whole of it in the line's tooltip, gone once the
 * request is answered; the list stays virtualized (rows stacked without gaps or overlaps).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { stampEvents } from '../../src/thread/thread.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

const row = (page: Page, id: string) => page.locator(`.thread-row[data-id="${id}"]`);

/** Each drawn row's top and height, in list order. */
const boxes = (page: Page) =>
  page.locator('#thread-list .thread-row').evaluateAll((rows) =>
    rows.map((r) => {
      const { top, height } = r.getBoundingClientRect();
      return { id: r.getAttribute('data-id'), top, height };
    }),
  );

/** Rows follow each other without a gap or an overlap. */
async function expectStacked(page: Page): Promise<void> {
  const drawn = (await boxes(page)).sort((a, b) => a.top - b.top);
  for (let i = 1; i < drawn.length; i++) expect(drawn[i]!.top).toBeCloseTo(drawn[i - 1]!.top + drawn[i - 1]!.height, 0);
}

const LONG = `Which of these should go first? <img src=x onerror="document.title='owned'"> ${'and then the other one, '.repeat(12)}end`; // under the 500 characters a row keeps

describe('the thread list, for threads that wait for a human', () => {
  it('shows what a waiting thread asks, with the whole of it in its tooltip, until it is answered; other rows show none', async () => {
    const store = createMemoryStore();
    await store.create({
      id: 'th-long',
      agent: 'calculator',
      events: stampEvents(
        0,
        [
          { type: 'input', data: { input: 'plan it' } },
          { type: 'human_request', data: { requestId: 'req_long', kind: 'input', question: LONG, urgency: 'medium', format: 'free_text' } },
        ],
        new Date(Date.now() - 3 * 60_000).toISOString(),
      ),
    });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    await server.runtime.launch('calculator', 'add 2 and 3', { threadId: 'th-done' });
    expect((await server.runtime.settled('th-done')).status).toBe('done');
    await server.runtime.launch('calculator', 'divide 7 by 2', { threadId: 'th-divide' });
    const waiting = await server.runtime.settled('th-divide');
    expect(waiting.status).toBe('awaiting_human');

    const { page, errors } = await open(server);
    await expect.poll(() => page.locator('.thread-row').count()).toBe(3);

    // The approval: its kind, tool and arguments; the tooltip has all of it and when it was asked.
    const ask = row(page, 'th-divide').locator('.ask');
    expect(await ask.textContent()).toBe('approval: divide {"a":7,"b":2}');
    const title = (await ask.getAttribute('title')) ?? '';
    expect(title).toContain('approval');
    expect(title).toContain('divide');
    expect(title).toContain('{"a":7,"b":2}');
    expect(title).toContain(waiting.pendingRequest!.question);
    expect(title).toMatch(/asked (just now|\d+s ago)/);

    // A question: said as text (never markup), cut with an ellipsis inside its row.
    const long = row(page, 'th-long').locator('.ask');
    expect(await long.textContent()).toBe(`input: ${LONG}`);
    expect(await long.locator('img').count()).toBe(0);
    expect(await long.getAttribute('title')).toContain(LONG);
    expect(await long.getAttribute('title')).toContain('asked 3m ago');
    expect(await long.evaluate((e) => (globalThis as unknown as { getComputedStyle(e: unknown): { textOverflow: string } }).getComputedStyle(e).textOverflow)).toBe('ellipsis');
    const fits = await long.evaluate((e) => {
      const line = e.getBoundingClientRect();
      const box = e.closest('.thread-row')!.getBoundingClientRect();
      return { cut: e.scrollWidth > e.clientWidth, inside: line.right <= box.right && line.bottom <= box.bottom - 1 };
    });
    expect(fits).toEqual({ cut: true, inside: true });

    // A done thread: no such line, and its row as it was.
    expect(await row(page, 'th-done').locator('.ask').count()).toBe(0);
    expect((await row(page, 'th-done').boundingBox())?.height).toBe(52);
    await expectStacked(page);

    // Answered: the line goes, live, and the row is an ordinary one again.
    await server.runtime.respond('th-divide', { requestId: waiting.pendingRequest!.requestId, approved: true });
    expect((await server.runtime.settled('th-divide')).status).toBe('done');
    await expect.poll(() => row(page, 'th-divide').locator('.pill').textContent()).toBe('done');
    await expect.poll(() => row(page, 'th-divide').locator('.ask').count()).toBe(0);
    expect((await row(page, 'th-divide').boundingBox())?.height).toBe(52);
    await expectStacked(page);
    expect(await page.title()).not.toBe('owned');
    expect(errors).toEqual([]);
  }, 30_000);

  it('keeps the list virtualized with rows of both heights: the rows drawn cover the view wherever it is scrolled', async () => {
    const store = createMemoryStore();
    const t0 = Date.parse('2025-01-01T00:00:00.000Z');
    for (let i = 0; i < 300; i++) {
      const ask = { type: 'human_request' as const, data: { requestId: `req_${i}`, kind: 'input' as const, question: `Question ${i}?`, urgency: 'medium' as const, format: 'free_text' as const } };
      const end = { type: 'final' as const, data: { output: 'ok' } };
      const events = stampEvents(0, [{ type: 'input', data: { input: `job ${i}` } }, i % 3 === 0 ? ask : end], new Date(t0 + i * 1000).toISOString());
      await store.create({ id: `th-${String(i).padStart(3, '0')}`, agent: 'calculator', events });
    }
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server);
    await expect.poll(() => page.locator('#thread-count').textContent()).toBe('300 threads');
    expect(await page.locator('#thread-list .spacer').evaluate((e) => e.getBoundingClientRect().height)).toBe(300 * 52 + 100 * 18);

    const list = page.locator('#thread-list');
    for (const at of [0, 4321, 9000, 1e6]) {
      await list.evaluate((e, y) => e.scrollTo(0, y), at);
      const view = await list.evaluate((e) => ({ top: e.getBoundingClientRect().top, height: e.clientHeight }));
      await expect.poll(async () => {
        const drawn = (await boxes(page)).sort((a, b) => a.top - b.top);
        const first = drawn[0]!;
        const last = drawn.at(-1)!;
        return drawn.length <= 40 && first.top <= view.top && last.top + last.height >= view.top + view.height - 1;
      }).toBe(true);
      await expectStacked(page);
    }
    // At the end: the oldest thread, a waiting one, with its question.
    expect(await row(page, 'th-000').locator('.ask').textContent()).toBe('input: Question 0?');
    expect(await row(page, 'th-001').locator('.ask').count()).toBe(0);
    expect(errors).toEqual([]);
  }, 30_000);
});
