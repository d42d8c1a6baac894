/**
 * `GET /threads/:id/events` read by a real browser's `EventSource` (Debian's chromium, as the
 * inspector's browser tests): one opened with `?after=` repeats that URL on each reconnect and adds
 * the `Last-Event-ID` it received, which must win (QA22 http #1: each reconnect replayed the events
 * after `?after=`, and on an ended thread the page looped for ever: end, reconnect, replay).
 */
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { incarnationOf } from '../../src/thread/incarnation.js';
import { CHROMIUM_ARGS, ensureChromium } from '../support/ensureChromium.js';
import { createHarness, launchAndWait, type Harness } from './harness.js';

let h: Harness;
let server: HttpServer;
let browser: Browser;

beforeAll(async () => {
  h = createHarness();
  server = await startHttpServer(h.runtime, { port: 0, token: '' });
  browser = await chromium.launch({ executablePath: ensureChromium(), args: [...CHROMIUM_ARGS] });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await h?.runtime.close();
});

/** Opens an EventSource on `path` in the page: what it gets, the ids of the events and `end`, in `window.got` (the page's globalThis). */
function open(path: string): void {
  const got: string[] = [];
  const source = new EventSource(path);
  for (const type of ['input', 'decision', 'tool_call', 'tool_result', 'final', 'end']) {
    source.addEventListener(type, (event) => got.push(type === 'end' ? 'end' : (event as MessageEvent).lastEventId));
  }
  Object.assign(globalThis, { got, source });
}

describe('GET /threads/:id/events from a browser EventSource', () => {
  it('opened with ?after= on an ended thread: the events after it once, the end once, and a reconnect told to stop (204)', async () => {
    const done = await launchAndWait(server.url, 'calculator', { op: 'add', a: 1, b: 1 });
    const page = await browser.newPage();
    try {
      // The statuses of the stream's requests.
      const answered: number[] = [];
      page.on('response', (response) => {
        if (response.url().includes('/events')) answered.push(response.status());
      });
      await page.goto(`${server.url}/health`);
      const stopped = page.waitForResponse((response) => response.url().includes('/events') && response.status() === 204, { timeout: 10_000 });
      await page.evaluate(`(${open.toString()})('/threads/${done.id}/events?after=2')`);
      // Chromium reconnects 3 s after the stream closed, with the same URL and the end's Last-Event-ID.
      await stopped;
      await page.waitForFunction('window.source.readyState === EventSource.CLOSED');
      const got = await page.evaluate('window.got');
      const id = (seq: number): string => `${incarnationOf(done.createdAt!)}:${seq}`;
      expect(got).toEqual([...done.events.filter((e) => e.seq > 2).map((e) => id(e.seq)), 'end']);
      expect(answered).toEqual([200, 204]);
    } finally {
      await page.close();
    }
  }, 20_000);
});
