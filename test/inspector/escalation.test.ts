/**
 * Answering an escalation from the inspector page (QA22 inspector #1): the agent goes on with the
 * guidance typed on the card, sent as the escalation's `answer` (the server refuses a Continue
 * without one), and a refusal's message is shown once.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

const text = (page: Page, selector: string) => page.locator(selector).textContent();

/** A thread escalated to a human after errors in a row, its escalation's request open. */
const escalated: NewEvent[] = [
  { type: 'input', data: { input: 'add 2 and 3' } },
  { type: 'escalation', data: { reason: 'max_consecutive_errors', message: 'add failed 3 times in a row', requestId: 'req_esc' } },
  { type: 'human_request', data: { requestId: 'req_esc', kind: 'escalation', question: 'The agent failed 3 times in a row: how should it go on?', urgency: 'high', format: 'free_text' } },
];

describe('an escalation on the inspector page', () => {
  it('continues the agent with the guidance typed on the card, sent as its answer, and needs guidance to continue', async () => {
    const store = createMemoryStore();
    await store.create({ id: 'th-esc', agent: 'calculator', events: stampEvents(0, escalated, new Date().toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    expect((await server.runtime.get('th-esc'))?.status).toBe('escalated');
    const { page, errors } = await open(server, '#thread=th-esc');
    await expect.poll(() => text(page, '#pending .question')).toContain('how should it go on');
    const guidance = page.getByRole('textbox', { name: /guidance/i });
    await expect.poll(() => guidance.count()).toBe(1);

    // Without guidance, Continue is not offered: the page says why rather than send what the server refuses.
    expect(await page.locator('#approve').isDisabled()).toBe(true);
    expect(await page.locator('#approve').getAttribute('title')).toMatch(/guidance/);

    await guidance.fill('try adding once more');
    await page.click('#approve');
    await expect.poll(() => text(page, '#thread-status'), { timeout: 10_000 }).toContain('done');
    expect(await page.locator('#pending').count()).toBe(0);
    const response = (await server.runtime.get('th-esc'))!.events.find((e) => e.type === 'human_response');
    expect(response?.type === 'human_response' && response.data).toMatchObject({ requestId: 'req_esc', answer: 'try adding once more', by: 'inspector' });
    expect(await page.locator('#timeline li[data-type="human_response"]').textContent()).toContain('try adding once more');
    expect(errors).toEqual([]);
  });

  it('shows a refusal’s message once, not again as its only issue', async () => {
    const store = createMemoryStore();
    await store.create({ id: 'th-esc2', agent: 'calculator', events: stampEvents(0, escalated, new Date().toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page } = await open(server, '#thread=th-esc2');
    await expect.poll(() => text(page, '#pending .question')).toContain('how should it go on');
    // A request the server refuses (400) with `issues` equal to its `error`, sent as the page sends answers.
    // (The script is a string: the test runner would rewrite a function's dynamic import.)
    const message = await page.evaluate(`import(new URL('inspector/ui/api.js', location.href).href).then((api) => api.respond('th-esc2', { requestId: 'req_esc', approved: true })).then(() => 'accepted', (error) => error.message)`);
    expect(message).toBe('an escalation needs an "answer" with guidance (or "approved": false to stop the agent)');
  });
});
