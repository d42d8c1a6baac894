import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { CHROMIUM_ARGS, ensureChromium } from '../support/ensureChromium.js';
import type { InspectorServer } from './inspectorFixture.js';

/**
 * Opens the inspector page of `server` at `path` (`#thread=<id>`...) in a fresh browser context,
 * closed by `cleanups`; waits for its live stream unless `live` is false. `errors` collects the
 * page's uncaught errors and console errors.
 */
export async function openInspector(
  browser: Browser,
  cleanups: (() => Promise<void>)[],
  server: InspectorServer,
  path = '',
  live = true,
  /** The browser's time zone (IANA), for what the page shows in local time. @default the machine's */
  timezoneId?: string,
): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...(timezoneId === undefined ? {} : { timezoneId }) });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(`${server.url}/inspector${path}`);
  if (live) await page.waitForSelector('#connection.live');
  return { page, errors };
}

/**
 * Chromium for a test file: launched before its tests, closed after them; what a test pushes to
 * `cleanups` (its servers) is closed after it. `open` opens the inspector as {@link openInspector}.
 */
export function browserForTests(): {
  readonly cleanups: (() => Promise<void>)[];
  open(server: InspectorServer, path?: string, live?: boolean, timezoneId?: string): Promise<{ page: Page; errors: string[] }>;
} {
  let browser: Browser | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: ensureChromium(), args: [...CHROMIUM_ARGS] });
  }, 600_000);
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return { cleanups, open: (server, path, live, timezoneId) => openInspector(browser!, cleanups, server, path, live, timezoneId) };
}
