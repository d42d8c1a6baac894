/**
 * Why a thread ended badly, at the top of its page (QA27 inspect D2): a failed thread's reason and a
 * cancelled thread's reason (and who cancelled it) are said under its header, as an escalation's
 * reason is, not only at the end of its timeline.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

const failed: NewEvent[] = [
  { type: 'input', data: { input: 'add 2 and 3' } },
  { type: 'failed', data: { reason: 'invalid pipeline output: (root): expected string, received object' } },
];
const cancelled: NewEvent[] = [
  { type: 'input', data: { input: 'add 2 and 3' } },
  { type: 'control', data: { action: 'cancel', reason: 'wrong amount', by: 'ann' } },
];

const stopped: NewEvent[] = [
  { type: 'input', data: { input: 'ship it' } },
  { type: 'escalation', data: { reason: 'non_retryable_error', message: 'not retried: HTTP 403', requestId: 'req_2' } },
  { type: 'human_request', data: { requestId: 'req_2', kind: 'escalation', question: 'stopped: continue?', urgency: 'high', format: 'yes_no' } },
  { type: 'human_response', data: { requestId: 'req_2', approved: false, by: 'root', comment: 'inventory-svc is down' } },
];

describe('a thread that ended badly, on the inspector page', () => {
  it('says why a failed thread failed, and why and by whom a cancelled one was cancelled, under its header', async () => {
    const store = createMemoryStore();
    const at = new Date().toISOString();
    await store.create({ id: 'th-failed', agent: 'calculator', events: stampEvents(0, failed, at) });
    await store.create({ id: 'th-cancelled', agent: 'calculator', events: stampEvents(0, cancelled, at) });
    await store.create({ id: 'th-done', agent: 'calculator', events: stampEvents(0, [failed[0]!, { type: 'final', data: { output: '5' } }], at) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    expect((await server.runtime.get('th-failed'))?.status).toBe('failed');
    expect((await server.runtime.get('th-cancelled'))?.status).toBe('cancelled');

    const { page, errors } = await open(server, '#thread=th-failed');
    await expect.poll(() => page.locator('#thread-ended').textContent()).toBe('Failed: invalid pipeline output: (root): expected string, received object');
    await page.evaluate(() => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = 'thread=th-cancelled';
    });
    await expect.poll(() => page.locator('#thread-ended').textContent()).toBe('Cancelled by ann: wrong amount');
    await page.evaluate(() => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = 'thread=th-done';
    });
    await expect.poll(() => page.locator('#thread-status').textContent()).toContain('done');
    expect(await page.locator('#thread-ended').count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('says who stopped an escalated thread and why, as its failure reads in a list row', async () => {
    const store = createMemoryStore();
    await store.create({ id: 'th-stopped', agent: 'calculator', events: stampEvents(0, stopped, new Date().toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    expect((await server.runtime.get('th-stopped'))?.status).toBe('failed');

    const { page, errors } = await open(server, '#thread=th-stopped');
    await expect.poll(() => page.locator('#thread-ended').textContent()).toBe('Failed: a human (root) stopped the agent after an escalation: inventory-svc is down');
    expect(errors).toEqual([]);
  });
});
