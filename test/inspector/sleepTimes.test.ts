/**
 * The inspector on a sleeping thread (an intent's `waitMs`): its header says when it wakes (as a
 * backing-off thread's says when it retries), and a deadline on another day than its event is
 * named with its date, as the CLI names it. Seen as a user: a thread sleeping 30 days showed
 * `intent · sleeps until 14:09:13` (today's clock time) and nothing in its header.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open: openPage } = browserForTests();

const ZONE = 'America/New_York';
/** `YYYY-MM-DD HH:MM:SS` in New York. */
const newYork = (ms: number): string => new Date(ms).toLocaleString('sv-SE', { timeZone: ZONE });

function sleeper(until: number): NewEvent[] {
  return [
    { type: 'input', data: { input: 'nap' } },
    { type: 'decision', data: { callId: 'call_2', step: 1, intent: 'nap', args: {}, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
    { type: 'custom', data: { step: 'nap', phase: 'intent', callId: 'call_2', output: { waited: true }, until } },
  ];
}

describe('the inspector on a sleeping thread', () => {
  it('names when it wakes, with the date when that is another day', async () => {
    const at = Math.floor(Date.now() / 1000) * 1000;
    const wake = at + 30 * 86_400_000;
    const store = createMemoryStore();
    await store.create({ id: 'th-sleeps', agent: 'calculator', events: stampEvents(0, sleeper(wake), new Date(at).toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await openPage(server, '#thread=th-sleeps', true, ZONE);
    await expect.poll(() => page.locator('#thread-wake').textContent()).toBe(`wakes ${newYork(wake)}`);
    const meta = page.locator('#timeline li[data-type="custom"] .meta');
    await expect.poll(() => meta.textContent()).toBe(`intent · sleeps until ${newYork(wake)}`);
    expect(errors).toEqual([]);
  });

  it('says a wake time in the past is due since then', async () => {
    const at = Math.floor(Date.now() / 1000) * 1000 - 120_000;
    const wake = at + 60_000;
    const store = createMemoryStore();
    await store.create({ id: 'th-due', agent: 'calculator', events: stampEvents(0, sleeper(wake), new Date(at).toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await openPage(server, '#thread=th-due', true, ZONE);
    await expect.poll(() => page.locator('#thread-wake').textContent()).toBe(`wake due since ${newYork(wake).slice(11)}`);
    expect(errors).toEqual([]);
  });
});
