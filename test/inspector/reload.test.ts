/**
 * The selected thread when it cannot be loaded (QA22 inspector #3): the server went away (it is
 * loaded again once the stream is back, so a pending request's buttons come back), or the address
 * names a thread that does not exist (the previous thread's timeline does not stay beside the error).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

const text = (page: Page, selector: string) => page.locator(selector).textContent();
const goTo = (page: Page, hash: string) => page.evaluate(`location.hash = ${JSON.stringify(hash)}`);

describe('the selected thread, when it cannot be loaded', () => {
  it('is loaded again when the server is back, its pending request answerable, and shows no other thread’s timeline meanwhile', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    for (const threadId of ['th-first', 'th-second']) {
      await server.runtime.launch('calculator', 'divide 8 by 2', { threadId });
      expect((await server.runtime.settled(threadId)).status).toBe('awaiting_human');
    }
    const { page } = await open(server, '#thread=th-first');
    await expect.poll(() => page.locator('#timeline li').count()).toBeGreaterThan(0);

    // The server goes; the user opens another thread meanwhile.
    await server.stopHttp();
    await expect.poll(() => text(page, '#connection')).toBe('reconnecting…');
    await goTo(page, '#thread=th-second');
    await expect.poll(() => text(page, '#detail')).toContain('Could not load th-second');
    expect(await page.locator('#timeline li').count()).toBe(0);

    // It comes back: the thread is loaded again, with its Approve button, without any click.
    await server.startHttp();
    await page.locator('#connection.live').waitFor({ timeout: 10_000 });
    await expect.poll(() => text(page, '#thread-title')).toBe('th-second');
    expect(await text(page, '#detail')).not.toContain('Could not load');
    await page.locator('#pending #approve').waitFor();
    await expect.poll(() => page.locator('#timeline li').count()).toBeGreaterThan(0);
    await page.click('#approve');
    await expect.poll(async () => (await server.runtime.get('th-second'))?.status, { timeout: 10_000 }).toBe('done');
  });

  it('does not keep the previous thread’s timeline beside an unknown thread’s error', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    await server.runtime.launch('calculator', 'add 2 and 3', { threadId: 'th-known' });
    expect((await server.runtime.settled('th-known')).status).toBe('done');
    const { page } = await open(server, '#thread=th-known');
    await expect.poll(() => page.locator('#timeline li').count()).toBeGreaterThan(0);

    await goTo(page, '#thread=th-does-not-exist');
    await expect.poll(() => text(page, '#detail')).toContain('Could not load th-does-not-exist: thread not found');
    expect(await page.locator('#timeline li').count()).toBe(0);
    expect(await text(page, '#timeline-count')).toBe('');
  });
});
