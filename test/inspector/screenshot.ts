/**
 * Regenerates docs/inspector.png (1280x800) without the test runner:
 *
 *   node --import tsx test/inspector/screenshot.ts [out.png]
 *
 * A few calculator threads (finished, waiting for an answer, waiting for an approval), the page
 * opened on the one that waits for approval, its statechart highlighting `awaitingHuman`.
 */
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, ensureChromium } from '../support/ensureChromium.js';
import { startInspectorServer, type BrowserGlobals, type InspectorServer } from './inspectorFixture.js';

/** The threads around the one in the picture: two finished, one waiting for an answer. */
export async function seedBackground(server: InspectorServer): Promise<void> {
  const { runtime } = server;
  for (const [id, input] of [
    ['th_sum-2-3', 'add 2 and 3'],
    ['th_sum-again', 'add 2 and 3 again'],
    ['th_ask-units', 'ask for the unit, then add'],
  ] as const) {
    await runtime.launch('calculator', input, { threadId: id });
    await runtime.settled(id);
  }
}

/** The background threads plus one that waits for a division's approval; returns its id. */
export async function seedScene(server: InspectorServer): Promise<string> {
  await seedBackground(server);
  const { id } = await server.runtime.launch('calculator', 'divide 8 by 2', { threadId: 'th_divide-8-by-2' });
  await server.runtime.settled(id);
  return id;
}

/** Opens the page on `threadId` and waits until its chart shows `state`. */
export async function openOn(page: Page, url: string, threadId: string, state: string): Promise<void> {
  await page.goto(`${url}/inspector#thread=${encodeURIComponent(threadId)}`);
  await page.waitForFunction((s) => (globalThis as unknown as BrowserGlobals).document.querySelector('#current-state')?.textContent === s, state);
  await page.waitForSelector(`#chart .node.active[data-state="${state}"]`);
}

async function main(out: string): Promise<void> {
  const server = await startInspectorServer();
  const browser = await chromium.launch({ executablePath: ensureChromium(), args: [...CHROMIUM_ARGS] });
  try {
    const id = await seedScene(server);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await openOn(page, server.url, id, 'awaitingHuman');
    await page.screenshot({ path: out });
    process.stdout.write(`wrote ${out}\n`);
  } finally {
    await browser.close();
    await server.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv[2] ?? fileURLToPath(new URL('../../docs/inspector.png', import.meta.url)));
}
