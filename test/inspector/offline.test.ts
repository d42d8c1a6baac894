/**
 * The page while the server is away (QA22 inspector #7): it asks for its stream again less and
 * less often (not every 1.5 s for ever), at once when the user clicks the connection pill, and
 * says its live actors are what it last heard, not live.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

const text = (page: Page, selector: string) => page.locator(selector).textContent();

/** The times the page asks for its stream, from now on. */
function streamRequests(page: Page): number[] {
  const times: number[] = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/inspector/stream') times.push(Date.now());
  });
  return times;
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

describe('the page, while the server is away', () => {
  it('backs off its reconnection, shows its live actors as stale, reconnects at once on a click of the pill, and starts over from a short wait once connected', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    const { page } = await open(server);
    await page.locator('#actors tr.live').first().waitFor();
    expect(await page.locator('#actors-stale').isVisible()).toBe(false);

    const asked = streamRequests(page);
    await server.stopHttp();
    await expect.poll(() => text(page, '#connection')).toBe('reconnecting…');
    // Nothing the panel shows is live any more: no green dot, and it says since when it is stale.
    await expect.poll(() => page.locator('#actors tr.live').count()).toBe(0);
    expect(await page.locator('#actors tr.actor').count()).toBeGreaterThan(0);
    expect(await text(page, '#actors-stale')).toMatch(/^as of \d\d:\d\d:\d\d, server unreachable$/);

    await expect.poll(() => asked.length, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(3);
    const [first, second] = gaps(asked);
    expect(first).toBeGreaterThan(2_000);
    expect(second).toBeGreaterThan(first! * 1.5);

    // Back; the next attempt is far off (it doubled again), a click asks now (the pill is a button meanwhile).
    await expect.poll(() => page.locator('#connection').getAttribute('role')).toBe('button');
    await server.startHttp();
    const clicked = Date.now();
    await page.click('#connection');
    await page.locator('#connection.live').waitFor({ timeout: 3_000 });
    expect(Date.now() - clicked).toBeLessThan(3_000);
    // What the panel shows is the new stream's again (this server's registry starts empty: its
    // process publishes its actors when they change).
    await expect.poll(() => page.locator('#actors-stale').isVisible()).toBe(false);
    expect(await text(page, '#actor-count')).not.toContain('last seen');

    // Connected, it starts over: away again, the first attempt comes after the short wait.
    const again = streamRequests(page);
    await server.stopHttp();
    await expect.poll(() => again.length, { timeout: 5_000, interval: 100 }).toBeGreaterThanOrEqual(1);
    await server.startHttp();
    await page.locator('#connection.live').waitFor({ timeout: 5_000 });
  }, 60_000);

  it('asks again at once when the user comes back to the tab, not while the tab is hidden', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    const { page } = await open(server);
    await page.locator('#connection.live').waitFor();
    const asked = streamRequests(page);
    await server.stopHttp();
    // Three attempts: the next one is at least 6 s away (1.5 s doubling).
    await expect.poll(() => asked.length, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(3);
    await server.startHttp();
    const showTab = (state: 'hidden' | 'visible') =>
      page.evaluate((s) => {
        const { document } = globalThis as unknown as { document: EventTarget };
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
        document.dispatchEvent(new Event('visibilitychange'));
      }, state);
    const before = asked.length;
    await showTab('hidden');
    await page.waitForTimeout(500);
    expect(asked.length).toBe(before);
    const back = Date.now();
    await showTab('visible');
    await page.locator('#connection.live').waitFor({ timeout: 3_000 });
    expect(Date.now() - back).toBeLessThan(3_000);
  }, 60_000);
});
