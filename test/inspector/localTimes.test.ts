/**
 * The inspector's timeline gives the times it names (an error's retry, a sleep's end) in the
 * browser's local time, as it shows the rest of the page and as the CLI does: not the UTC clock
 * of the stored instant (an engineer in New York read "retry at 12:28:06" at 07:27).
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open: openPage } = browserForTests();

describe("the inspector timeline's times", () => {
  it("names an error's retry time in the browser's time zone", async () => {
    const store = createMemoryStore();
    const events: NewEvent[] = [
      { type: 'input', data: { input: 'what is 2 + 3?' } },
      { type: 'error', data: { kind: 'tool_error', message: 'add failed: busy', attempt: 1, tool: 'add', retryAt: '2026-12-06T12:28:06.032Z' } },
    ];
    await store.create({ id: 'th-retry', agent: 'calculator', events: stampEvents(0, events, '2026-12-06T12:27:46.000Z') });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await openPage(server, '#thread=th-retry', true, 'America/New_York');
    const meta = page.locator('#timeline li[data-type="error"] .meta');
    await expect.poll(() => meta.textContent()).toContain('retry at 07:28:06');
    expect(await meta.textContent()).not.toContain('12:28:06');
    expect(errors).toEqual([]);
  });
});
