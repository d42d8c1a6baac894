/**
 * The inspector in a narrow window (QA27 inspect D5): half a laptop's screen (800 px) and a phone
 * (420 px). The page stays no wider than the window, the selected thread's column keeps room for its
 * title, its request's buttons and its chart, the thread list and the timeline stay on the page, and
 * the header's counts fit in it.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

interface Box {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
  readonly width: number;
}

/** Where the page's parts are, and how wide the page and the window are. */
function measure(page: Page) {
  return page.evaluate(() => {
    const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number }; querySelector(s: string): { getBoundingClientRect(): Box; scrollHeight: number; clientHeight: number } | null } }).document;
    const box = (selector: string) => {
      const r = doc.querySelector(selector)?.getBoundingClientRect();
      return r ? { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width } : null;
    };
    const header = doc.querySelector('header.top');
    return {
      pageWidth: doc.documentElement.scrollWidth,
      windowWidth: doc.documentElement.clientWidth,
      detail: box('#detail'),
      list: box('#thread-list'),
      timeline: box('#timeline'),
      approve: box('#pending #approve'),
      deny: box('#pending #deny'),
      chart: box('#chart'),
      headerOverflows: header ? header.scrollHeight > header.clientHeight : true,
    };
  });
}

describe('the inspector in a narrow window', () => {
  for (const size of [
    { width: 800, height: 900, detail: 480 },
    { width: 420, height: 860, detail: 380 },
  ]) {
    it(`keeps the selected thread readable at ${size.width} px`, async () => {
      const server = await startInspectorServer();
      cleanups.push(() => server.close());
      // The calculator's scripted model divides, and the division waits for a human's approval.
      const { id } = await server.runtime.launch('calculator', 'divide 7 by 2', { threadId: 'th-narrow' });
      expect((await server.runtime.settled(id)).status).toBe('awaiting_human');
      const { page, errors } = await open(server, '#thread=th-narrow');
      await page.setViewportSize({ width: size.width, height: size.height });
      await page.waitForSelector('#pending #approve');
      await page.waitForSelector('#chart svg');
      const m = await measure(page);
      expect(m.pageWidth).toBeLessThanOrEqual(m.windowWidth);
      expect(m.detail!.width).toBeGreaterThanOrEqual(size.detail);
      // The request's buttons and the chart lie inside the thread's column, not cut by its edge.
      for (const part of [m.approve!, m.deny!, m.chart!]) {
        expect(part.left).toBeGreaterThanOrEqual(m.detail!.left);
        expect(part.right).toBeLessThanOrEqual(m.detail!.right);
      }
      // The list and the timeline are still there, wide enough to read.
      expect(m.list!.width).toBeGreaterThanOrEqual(200);
      expect(m.timeline!.width).toBeGreaterThanOrEqual(240);
      expect(m.timeline!.right).toBeLessThanOrEqual(m.windowWidth);
      expect(m.headerOverflows).toBe(false);
      expect(errors).toEqual([]);
    });
  }

  it('brings the thread chosen from the list into view on a phone, where it lies below the list', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    for (const id of ['th-a', 'th-b']) await server.runtime.launch('calculator', 'add 2 and 3', { threadId: id });
    await expect.poll(async () => (await server.runtime.get('th-b'))?.status, { timeout: 10_000 }).toBe('done');
    const { page, errors } = await open(server);
    await page.setViewportSize({ width: 420, height: 860 });
    await page.locator('.thread-row[data-id="th-b"]').click();
    await expect.poll(() => page.locator('#thread-title').textContent()).toBe('th-b');
    // The thread's header is at the top of the window, not below the list.
    await expect.poll(() => page.evaluate(() => Math.round((globalThis as unknown as { document: { querySelector(s: string): { getBoundingClientRect(): { top: number } } } }).document.querySelector('#detail').getBoundingClientRect().top))).toBeLessThanOrEqual(60);
    expect(errors).toEqual([]);
  });
});
