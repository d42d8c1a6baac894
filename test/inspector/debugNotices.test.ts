/**
 * What the inspector's thread view tells an on-call engineer, in a real browser: a thread waiting
 * for a concurrency slot says so (QA20 D17); a thread that has not ended shows the time since it
 * was created, not the span of its events (D4); an answer the server refused because someone
 * answered first leaves a notice that stays (D16).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import type { Model } from '../../src/model/model.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { deferred } from '../bus/waiting.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';
import { startInspectorServer, type InspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open: openPage } = browserForTests();

const open = (server: InspectorServer, path: string) => openPage(server, path);

/** The text of the first element `selector` finds, or null when there is none (yet). */
const text = async (page: Page, selector: string) => ((await page.locator(selector).count()) === 0 ? null : page.locator(selector).first().textContent());

describe('the inspector’s thread view', () => {
  it('says a thread waits for a slot (maxConcurrent), with how many run', async () => {
    const tools = heldPublishTool();
    const { model } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const server = await startInspectorServer({ agents: [publisher], model, maxConcurrent: 1 });
    cleanups.push(async () => {
      tools.release.resolve('published');
      await server.close();
    });
    await server.runtime.launch('publisher', 'publish hello');
    await tools.started.promise;
    await server.runtime.launch('publisher', 'publish again', { threadId: 'th-queued' });
    const { page, errors } = await open(server, '#thread=th-queued');
    await expect.poll(() => text(page, '#thread-queued')).toBe('queued: waiting for a slot, 1 running of maxConcurrent 1');
    expect(await text(page, '#thread-status')).toContain('running');
    // The supervisor's row in the live actors says how full it is.
    await expect.poll(() => text(page, '#actors tr.actor[data-machine="supervisor"] td.state'), { timeout: 5_000 }).toBe('supervising · 1 running, 1 queued, of maxConcurrent 1');
    expect(errors).toEqual([]);
  });

  it('shows, for a thread that has not ended, the time since it was created, not the span of its events', async () => {
    const store = createMemoryStore();
    const events: NewEvent[] = [
      { type: 'input', data: { input: 'ask for the unit' } },
      { type: 'human_request', data: { requestId: 'req_1', kind: 'input', question: 'Which unit?', urgency: 'medium', format: 'free_text' } },
    ];
    // Created 90 s ago; its events span 0 ms.
    await store.create({ id: 'th-old', agent: 'calculator', events: stampEvents(0, events, new Date(Date.now() - 90_000).toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server, '#thread=th-old');
    await expect.poll(() => text(page, '#thread-status')).toContain('awaiting');
    expect(await text(page, '[data-figure="elapsed so far"] b')).toMatch(/^1m \d+s$/);
    expect(errors).toEqual([]);
  });

  it('says a backing-off thread whose retry is in flight is retrying now, since its due time (QA20 D1), not only backing off', async () => {
    const failing = scriptedModel([{ error: { kind: 'http', status: 500, message: 'upstream broke' } }]);
    const retried = deferred();
    // Fails once, then its retry never answers (a model that hangs).
    const model: Model = {
      name: 'm',
      complete: (request) => {
        if (failing.requests.length === 0) return failing.complete(request);
        retried.resolve();
        return new Promise(() => undefined);
      },
    };
    const answerer = agent({ name: 'answerer', description: 'answers', prompt: 'p', tools: [] });
    const server = await startInspectorServer({ agents: [answerer], model });
    cleanups.push(() => server.close());
    await server.runtime.launch('answerer', 'go', { threadId: 'th-retrying' });
    await retried.promise;
    const { page, errors } = await open(server, '#thread=th-retrying');
    await expect.poll(() => text(page, '#thread-status')).toContain('backing');
    await expect.poll(() => text(page, '#thread-retry')).toMatch(/^retrying now \(due since \d\d:\d\d:\d\d\)$/);
    expect(errors).toEqual([]);
  });

  it('keeps a notice that the answer was not sent when the server refuses it (409: someone answered first)', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    const { id } = await server.runtime.launch('calculator', 'ask for the unit', { threadId: 'th-raced' });
    const waiting = await server.runtime.settled(id);
    const { page, errors } = await open(server, '#thread=th-raced');
    await page.waitForSelector('#answer-input');
    // Someone answers over HTTP just before the page's answer reaches the server.
    await page.route('**/threads/th-raced/respond', async (route) => {
      await server.runtime.respond(id, { requestId: waiting.pendingRequest!.requestId, answer: 'from curl', by: 'curl-user' });
      await route.continue();
    });
    await page.fill('#answer-input', 'from the page');
    await page.click('#answer-send');
    await expect.poll(() => text(page, '#current-state')).toBe('done');
    await expect.poll(() => text(page, '#thread-notice')).toContain('Your answer was not sent: the request was already answered by curl-user');
    expect(errors.filter((e) => !e.includes('409'))).toEqual([]);
  });
});
