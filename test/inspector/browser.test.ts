/**
 * The inspector page in a real browser: Debian's chromium (installed by `ensureChromium` when
 * missing, never downloaded by playwright) driven by playwright-core, against a real HTTP server on
 * 127.0.0.1 with the HTTP API and the inspector mounted.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bugfix } from '../../agents/bugfix/index.js';
import { calculator } from '../../agents/calculator/index.js';
import { createPipelineMachine } from '../../machines/pipelineMachine.js';
import { supervisorMachine } from '../../machines/supervisorMachine.js';
import type { MachineGraph } from '../../src/inspector/chartTypes.js';
import type { PresenceMessage } from '../../src/inspector/inspectionMessages.js';
import { machineGraph } from '../../src/inspector/graph.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { layoutGraph } from '../../src/inspector/layout.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { CHROMIUM_ARGS, ensureChromium } from '../support/ensureChromium.js';
import { geometryProblems, type ChartShapes, type Rect } from './chartGeometry.js';
import { judgedAgent, startInspectorServer, type BrowserGlobals, type InspectorServer } from './inspectorFixture.js';
import { openInspector } from './inspectorPage.js';
import { seedBackground } from './screenshot.js';

// The committed screenshot is only rewritten on request (UPDATE_SCREENSHOT=1), so test runs leave the tree clean.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1' ? fileURLToPath(new URL('../../docs/inspector.png', import.meta.url)) : join(tmpdir(), `switchyard-inspector-${process.pid}.png`);

let browser: Browser;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: ensureChromium(), args: [...CHROMIUM_ARGS] });
  // The layout worker starts (and loads elkjs) on the first chart of the process: start it here,
  // so no test waits for it with a page's timeout.
  await layoutGraph(machineGraph(supervisorMachine));
}, 600_000);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await browser?.close();
});

const open = (server: InspectorServer, path = '', live = true) => openInspector(browser, cleanups, server, path, live);

const text = (page: Page, selector: string) => page.locator(selector).textContent();

describe('the inspector page', () => {
  it('launches an agent, shows its state live, approves its request and sees it finish', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    await seedBackground(server);
    const { page, errors } = await open(server);
    await expect.poll(() => text(page, '#thread-count')).toBe('3 threads');

    // Every state the page shows, in order.
    await page.evaluate(() => {
      const w = globalThis as unknown as BrowserGlobals;
      const seen: string[] = [];
      w.seenStates = seen;
      new w.MutationObserver(() => {
        const now = w.document.querySelector('#current-state')?.textContent ?? '';
        if (now && now !== seen[seen.length - 1]) seen.push(now);
      }).observe(w.document.body, { subtree: true, childList: true, characterData: true });
    });

    await page.selectOption('#launch-agent', 'calculator');
    await page.fill('#launch-input', 'divide 8 by 2');
    await page.click('#launch-send');
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobals).location.hash.startsWith('#thread='));
    const id = decodeURIComponent(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).location.hash.slice('#thread='.length)));
    await page.locator(`.thread-row.selected[data-id="${id}"]`).waitFor();
    await expect.poll(() => text(page, '#thread-count')).toBe('4 threads');

    // The agent decides to divide and waits for approval: the chart follows.
    await expect.poll(() => text(page, '#current-state')).toBe('awaitingHuman');
    await page.locator('#chart .node.active[data-state="awaitingHuman"]').waitFor();
    expect(await page.locator('#chart .node.active').count()).toBe(1);
    expect(await page.locator('#chart .node').count()).toBe(16);
    await expect.poll(() => text(page, '#thread-status')).toContain('awaiting human');
    expect(await text(page, '#pending .question')).toContain('divide');
    expect(await page.locator('#timeline li[data-type="decision"]').textContent()).toMatch(/#1 divide.*tokens/);
    await page.locator('#actors tr.agent-row', { hasText: id }).waitFor();
    await page.screenshot({ path: SCREENSHOT });

    await page.click('#approve');
    await expect.poll(() => text(page, '#current-state'), { timeout: 10_000 }).toBe('done');
    await page.locator('#chart .node.active[data-state="done"]').waitFor();
    await expect.poll(() => page.locator('#timeline li[data-type="final"]').count()).toBe(1);
    expect(await page.locator('#timeline li[data-type="human_response"]').textContent()).toContain('approved');
    expect(await page.locator('#timeline li[data-type="tool_result"]').textContent()).toMatch(/divide.*4.*took/);
    expect(await page.locator('#timeline li[data-type="final"]').textContent()).toContain('the answer is 4');
    expect(await page.locator('#pending').count()).toBe(0);
    expect(await page.locator(`.thread-row[data-id="${id}"]`).textContent()).toContain('done');
    expect((await server.runtime.get(id))?.status).toBe('done');

    const seen = await page.evaluate(() => (globalThis as unknown as BrowserGlobals).seenStates);
    expect(seen.indexOf('awaitingHuman')).toBeGreaterThanOrEqual(0);
    expect(seen.lastIndexOf('done')).toBeGreaterThan(seen.indexOf('awaitingHuman'));
    expect(seen.at(-1)).toBe('done');
    expect(errors).toEqual([]);
  });

  it('offers the pipelines in its launch form, apart from the agents, and launches one', async () => {
    const sums = pipeline({ name: 'sums', description: 'has the calculator add', input: z.object({}), output: z.unknown() })
      .agent({ name: 'add', agent: 'calculator', input: () => 'add 2 and 3' })
      .finish(({ results }) => results.add);
    const server = await startInspectorServer({ pipelines: [sums] });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server);
    await page.locator('#launch:not([hidden])').waitFor();
    const values = (selector: string) => page.locator(selector).evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value));
    expect(await values('#launch-agent optgroup[label="agents"] option')).toEqual(['calculator']);
    expect(await values('#launch-agent optgroup[label="pipelines"] option')).toEqual(['sums']);
    expect(await page.locator('#launch-agent option[value="sums"]').getAttribute('title')).toBe('has the calculator add');

    await page.selectOption('#launch-agent', 'sums');
    await page.fill('#launch-input', '{}');
    await page.click('#launch-send');
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobals).location.hash.startsWith('#thread='));
    const id = decodeURIComponent(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).location.hash.slice('#thread='.length)));
    expect((await server.runtime.settled(id)).status).toBe('done');
    await expect.poll(() => page.locator(`.thread-row[data-id="${id}"]`).textContent()).toMatch(/sums.*done|done.*sums/);
    expect(errors).toEqual([]);
  });

  it("links a pipeline and its children both ways, says which child it waits on and for what, and counts its steps as the CLI does (QA19 pipelines #3)", async () => {
    const asks = pipeline({ name: 'asks', description: 'has the calculator ask', input: z.object({}), output: z.unknown() })
      .agent({ name: 'ask', agent: 'calculator', input: () => 'ask for the unit' })
      .finish(({ results }) => results.ask);
    const server = await startInspectorServer({ pipelines: [asks] });
    cleanups.push(() => server.close());
    await server.runtime.launch('asks', {}, { threadId: 'p-asks' });
    await expect.poll(async () => (await server.runtime.get('p-asks--ask'))?.status, { timeout: 10_000 }).toBe('awaiting_human');
    const { page, errors } = await open(server, '#thread=p-asks');

    const delegation = page.locator('#timeline li[data-type="tool_call"] a.thread-link');
    expect(await delegation.getAttribute('href')).toBe('#thread=p-asks--ask');
    await expect.poll(() => text(page, '#waiting-on')).toContain('waiting on calculator thread p-asks--ask, which is awaiting_human');
    expect(await text(page, '#waiting-on')).toContain('Which unit should the answer use?');

    await delegation.click();
    await expect.poll(() => text(page, '#thread-title')).toBe('p-asks--ask');
    expect(await page.locator('#thread-parent a.thread-link').getAttribute('href')).toBe('#thread=p-asks');
    await page.fill('#answer-input', 'metres');
    await page.click('#answer-send');
    expect((await server.runtime.settled('p-asks')).status).toBe('done');

    await page.locator('#thread-parent a.thread-link').click();
    await expect.poll(() => text(page, '#thread-title')).toBe('p-asks');
    await expect.poll(() => text(page, '#thread-status')).toContain('done');
    expect(await page.locator('#waiting-on').count()).toBe(0);
    expect(await text(page, '.figure[data-figure="steps"] b')).toBe(String((await server.runtime.get('p-asks'))!.steps));
    expect(await text(page, '.figure[data-figure="steps"] b')).toBe('1');
    expect(errors).toEqual([]);
  });

  it('answers an input request from the page', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    const { id } = await server.runtime.launch('calculator', 'ask for the unit', { threadId: 'th-ask' });
    await server.runtime.settled(id);
    const { page, errors } = await open(server, '#thread=th-ask');
    await expect.poll(() => text(page, '#current-state')).toBe('awaitingHuman');
    expect(await page.locator('#approve').count()).toBe(0);
    await page.fill('#answer-input', 'metres');
    await page.click('#answer-send');
    await expect.poll(() => text(page, '#current-state')).toBe('done');
    expect(await page.locator('#timeline li[data-type="human_response"]').textContent()).toContain('metres');
    expect(errors).toEqual([]);
  });

  it('words the verdict on an interrupted call whose tool a new version dropped as what it means: it did not take effect, or it did (nothing runs it again)', async () => {
    const store = createMemoryStore();
    const events: NewEvent[] = [
      { type: 'input', data: { input: 'charge it' } },
      { type: 'decision', data: { callId: 'call_1', step: 1, intent: 'charge', args: { value: '10 EUR' }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'call_1', tool: 'charge', args: { value: '10 EUR' }, idempotencyKey: 'th-gone:call_1', attempt: 1 } },
    ];
    await store.create({ id: 'th-gone', agent: 'calculator', events: stampEvents(0, events, new Date().toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    await server.runtime.recover();
    await server.runtime.settled('th-gone');
    const { page, errors } = await open(server, '#thread=th-gone');
    await expect.poll(() => text(page, '#pending .question')).toContain('cannot be run again');
    expect(await text(page, '#approve')).toBe('It did not take effect');
    expect(await text(page, '#deny')).toBe('It took effect');
    expect(errors).toEqual([]);
  });

  it('lists a thread once in the live actors, as its latest actor, after it rested and a new actor resumed it', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    const { id } = await server.runtime.launch('calculator', 'ask for the unit', { threadId: 'th-resumed' });
    const asked = await server.runtime.settled(id);
    const { page, errors } = await open(server);
    const rows = page.locator('#actors tr.agent-row', { hasText: id });
    await expect.poll(() => rows.locator('td.state').allTextContents()).toEqual(['awaitingHuman']);
    // Its actor was evicted while it waited; the answer resumes it on a new actor.
    await server.runtime.respond(id, { requestId: asked.pendingRequest!.requestId, answer: 'metres' });
    expect((await server.runtime.settled(id)).status).toBe('done');
    await expect.poll(() => rows.locator('td.state').allTextContents()).toEqual(['done']);
    expect(errors).toEqual([]);
  });

  it('says a thread ended at rest past the state its stopped actor was left in (QA24 pipelines #10)', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    const { id } = await server.runtime.launch('calculator', 'ask for the unit', { threadId: 'th-cancelled-at-rest' });
    expect((await server.runtime.settled(id)).status).toBe('awaiting_human');
    const { page, errors } = await open(server);
    const rows = page.locator('#actors tr.agent-row', { hasText: id });
    await expect.poll(() => rows.locator('td.state').allTextContents()).toEqual(['awaitingHuman']);
    // Cancelled at rest: no actor runs for it, the one evicted keeps the state it stopped in.
    await server.runtime.cancel(id);
    await expect.poll(() => rows.locator('td.state').allTextContents()).toEqual(['awaitingHuman · thread now cancelled']);
    expect(errors).toEqual([]);
  });

  it('drops a thread deleted while it is open: its row, its live actor and its count of waiting, the other threads kept', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    for (const threadId of ['th-deleted', 'th-kept']) {
      await server.runtime.launch('calculator', 'divide 8 by 2', { threadId });
      expect((await server.runtime.settled(threadId)).status).toBe('awaiting_human');
    }
    const { page, errors } = await open(server, '#thread=th-deleted');
    await page.locator('.thread-row.selected[data-id="th-deleted"]').waitFor();
    await page.locator('#actors tr.agent-row', { hasText: 'th-deleted' }).waitFor();
    await expect.poll(() => text(page, '#stat-waiting')).toBe('2');

    await server.runtime.cancel('th-deleted');
    await server.runtime.delete('th-deleted');
    await expect.poll(() => page.locator('.thread-row[data-id="th-deleted"]').count()).toBe(0);
    await expect.poll(() => page.locator('#actors tr.agent-row', { hasText: 'th-deleted' }).count()).toBe(0);
    expect(await text(page, '#thread-count')).toBe('1 thread');
    expect(await text(page, '#stat-waiting')).toBe('1');
    expect(await text(page, '#detail')).toContain('th-deleted was deleted');
    expect(await page.locator('.thread-row[data-id="th-kept"]').textContent()).toContain('awaiting human');
    expect(errors).toEqual([]);
  });

  it('sends the bearer token it was opened with, and says when it has none', async () => {
    const server = await startInspectorServer({ token: 'sekret-token' });
    cleanups.push(() => server.close());
    await server.runtime.launch('calculator', 'add 2 and 3', { threadId: 'th-private' });
    await server.runtime.settled('th-private');

    const { page, errors } = await open(server, '?token=sekret-token#thread=th-private');
    await expect.poll(() => text(page, '#thread-count')).toBe('1 thread');
    await expect.poll(() => text(page, '#current-state')).toBe('done');
    // The token left the address bar (and the history) for the session's storage.
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).location.hash)).toBe('#thread=th-private');
    expect(page.url()).not.toContain('sekret');
    await page.reload();
    await expect.poll(() => text(page, '#thread-count')).toBe('1 thread');
    expect(errors).toEqual([]);

    const anonymous = await open(server, '', false);
    await expect.poll(() => text(anonymous.page, '#thread-list')).toMatch(/unauthorized.*\?token=/);
    expect(await anonymous.page.locator('.thread-row').count()).toBe(0);
    // Nothing was read: the list is not left `loading…`, nor does the header count no threads (QA27 inspect D7).
    expect(await text(anonymous.page, '#thread-count')).toBe('not loaded');
    expect(await text(anonymous.page, '#stat-threads')).toBe('–');
    expect(await text(anonymous.page, '#stat-waiting')).toBe('–');
  });

  it('stops reconnecting its stream when the server refuses the token, and says the token is missing or wrong', async () => {
    const server = await startInspectorServer({ token: 'sekret-token' });
    cleanups.push(() => server.close());
    for (const [path, said] of [
      ['', 'no token'],
      ['?token=wrong-token', 'wrong token'],
    ] as const) {
      const context = await browser.newContext();
      cleanups.push(() => context.close());
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      // The page's timers run only when the test moves this clock: a retry would be due after 1.5 s.
      await page.clock.install();
      const streams: string[] = [];
      page.on('request', (request) => {
        if (request.url().endsWith('/inspector/stream')) streams.push(request.url());
      });
      await page.goto(`${server.url}/inspector${path}`);
      await expect.poll(() => text(page, '#thread-list')).toMatch(/unauthorized.*\?token=/);
      await expect.poll(() => text(page, '#connection')).toBe(said);
      expect(await page.locator('#connection').getAttribute('class')).toBe('denied');
      expect(await page.locator('#connection').getAttribute('title')).toContain('?token=<token>');
      await page.clock.runFor(60_000);
      expect(await text(page, '#connection')).toBe(said);
      expect(streams).toHaveLength(1);
    }
  });

  it('counts the live processes in its header, and the gone ones apart, as the registry marks them', async () => {
    const server = await startInspectorServer();
    cleanups.push(() => server.close());
    await server.runtime.launch('calculator', 'add 2 and 3', { threadId: 'th-here' });
    await server.runtime.settled('th-here');
    const announce = (processId: string, state: PresenceMessage['state']) =>
      server.bus.publish(`switchyard.inspect.${processId}`, { type: '@switchyard.presence', processId, state, intervalMs: 60_000, createdAt: String(Date.now()) });
    const supervisorOf = (processId: string) =>
      server.bus.publish(`switchyard.inspect.${processId}.x:0`, {
        type: '@xstate.actor', sessionId: 'x:0', rootId: 'x:0', createdAt: String(Date.now()), id: `${processId}:1`, _version: '0.7.2',
        name: 'supervisor', machine: 'supervisor', parentId: undefined, definition: undefined, snapshot: { status: 'active', value: 'supervising' },
      });
    // Before the page opens: one more live process, and one that already said goodbye.
    for (const processId of ['worker-2:7', 'worker-3:9']) {
      await announce(processId, 'alive');
      await supervisorOf(processId);
    }
    await announce('worker-3:9', 'gone');
    await server.bus.flush();
    const { page, errors } = await open(server);
    await page.locator('#actors tr.actor[data-process="worker-2:7"].live').waitFor();
    await expect.poll(() => text(page, '#stat-processes')).toBe('2');
    expect(await text(page, '#stat-gone')).toBe(' (1 gone)');
    expect(await text(page, '#label-processes')).toBe('processes');

    // A live process goes while the page is open: its actors stop, and the header counts it gone.
    await announce('worker-2:7', 'gone');
    await server.bus.flush();
    await page.locator('#actors tr.actor[data-process="worker-2:7"].rest').waitFor();
    await expect.poll(() => text(page, '#stat-processes')).toBe('1');
    expect(await text(page, '#stat-gone')).toBe(' (2 gone)');
    expect(await text(page, '#label-processes')).toBe('process');
    expect(errors).toEqual([]);
  });

  it('stays usable with 1,000 threads: a bounded, virtualized list that filters and selects', async () => {
    const store = createMemoryStore();
    const ending: NewEvent[][] = [
      [{ type: 'final', data: { output: 'ok' } }],
      [{ type: 'control', data: { action: 'cancel', reason: 'not needed' } }],
      [],
      [{ type: 'failed', data: { reason: 'gave up' } }],
    ];
    const t0 = Date.parse('2025-01-01T00:00:00.000Z');
    for (let i = 0; i < 1000; i++) {
      const id = `th-${String(i).padStart(4, '0')}`;
      const events: NewEvent[] = [{ type: 'input', data: { input: `job ${i}` } }, ...ending[i % 4]!];
      await store.create({ id, agent: i % 5 === 0 ? 'deploybot' : 'calculator', events: stampEvents(0, events, new Date(t0 + i * 1000).toISOString()) });
    }
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server);
    const rows = page.locator('#thread-list .thread-row');

    await expect.poll(() => text(page, '#thread-count')).toBe('1000 threads');
    expect(await rows.count()).toBeLessThanOrEqual(40);
    expect(await rows.first().getAttribute('data-id')).toBe('th-0999');
    expect(await page.locator('#thread-list .spacer').evaluate((el) => el.getBoundingClientRect().height)).toBe(52_000);

    // Scrolled to the end, the oldest thread is there and the DOM is still small.
    await page.locator('#thread-list').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.locator('.thread-row[data-id="th-0000"]').waitFor();
    expect(await rows.count()).toBeLessThanOrEqual(40);
    await page.click('.thread-row[data-id="th-0000"]');
    await expect.poll(() => text(page, '#thread-title')).toBe('th-0000');
    await expect.poll(() => text(page, '#current-state')).toBe('done');
    await page.locator('#chart .node.active[data-state="done"]').waitFor();

    // Filters narrow the list at once.
    await page.selectOption('#filter-status', 'cancelled');
    await expect.poll(() => text(page, '#thread-count')).toBe('250 of 1000 threads');
    await page.selectOption('#filter-agent', 'deploybot');
    await expect.poll(() => text(page, '#thread-count')).toBe('50 of 1000 threads');
    expect(await rows.count()).toBeLessThanOrEqual(40);
    for (const row of await rows.all()) expect(await row.textContent()).toMatch(/cancelled.*deploybot/);
    await page.selectOption('#filter-status', '');
    await page.selectOption('#filter-agent', '');
    await page.fill('#filter-text', 'th-0777');
    await expect.poll(() => text(page, '#thread-count')).toBe('1 of 1000 threads');
    await page.click('.thread-row[data-id="th-0777"]');
    await expect.poll(() => text(page, '#thread-title')).toBe('th-0777');
    await expect.poll(() => page.locator('#timeline li').count()).toBe(2);
    expect(await text(page, '#current-state')).toBe('cancelled');
    expect(errors).toEqual([]);
  });

  it('offers in its agent filter the agent of a thread it first heard of through the live actors, also after a reload', async () => {
    const store = createMemoryStore();
    await store.create({ id: 'th-stored', agent: 'deploybot', events: stampEvents(0, [{ type: 'input', data: { input: 'ship it' } }], '2025-01-01T00:00:00.000Z') });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server);
    const options = () => page.locator('#filter-agent option').evaluateAll((all) => all.map((o) => (o as unknown as { value: string }).value));
    await page.locator('.thread-row[data-id="th-stored"]').waitFor();
    expect(await options()).toEqual(['', 'deploybot']);

    // Launched while the page is open: its actor reaches the page before its thread row does.
    await server.runtime.launch('calculator', 'add 2 and 3', { threadId: 'th-live' });
    await server.runtime.settled('th-live');
    await page.locator('.thread-row[data-id="th-live"]').waitFor();
    expect(await options()).toEqual(['', 'calculator', 'deploybot']);
    await page.selectOption('#filter-agent', 'calculator');
    await expect.poll(() => text(page, '#thread-count')).toBe('1 of 2 threads');

    // Reloaded: the registry replays the thread's actor, which may come before the thread list.
    await page.reload();
    await page.waitForSelector('#connection.live');
    await page.locator('.thread-row[data-id="th-live"]').waitFor();
    await page.locator('.thread-row[data-id="th-stored"]').waitFor();
    expect(await options()).toEqual(['', 'calculator', 'deploybot']);
    expect(errors).toEqual([]);
  });
});

/** What the chart probe uses of the browser (the project compiles without the DOM library). */
interface ProbeElement {
  getBBox(): Rect;
  getAttribute(name: string): string | null;
  querySelector(selector: string): ProbeElement | null;
  readonly textContent: string | null;
}
interface ProbeGlobals {
  document: { querySelectorAll(selector: string): Iterable<ProbeElement> };
}

/** The drawn chart's shapes, in the SVG's own units, as the browser measured them (text included). */
function drawnShapes(page: Page): Promise<ChartShapes> {
  return page.evaluate(() => {
    const { document } = globalThis as unknown as ProbeGlobals;
    const rect = (r: Rect): Rect => ({ x: r.x, y: r.y, width: r.width, height: r.height });
    const all = (selector: string) => [...document.querySelectorAll(selector)];
    return {
      states: all('#chart g.node').map((g) => ({
        id: g.getAttribute('data-id') ?? '',
        box: rect((g.querySelector('rect.ring') ?? g.querySelector('rect.box'))!.getBBox()),
        drawn: rect(g.getBBox()),
      })),
      frames: all('#chart g.frame').map((g) => ({ id: g.getAttribute('data-id') ?? '', box: rect(g.querySelector('rect')!.getBBox()), title: rect(g.querySelector('text')!.getBBox()) })),
      labels: all('#chart g.label').map((g) => ({
        id: g.getAttribute('data-edge') ?? '',
        text: g.querySelector('text')!.textContent ?? '',
        box: rect(g.querySelector('rect')!.getBBox()),
        drawn: rect(g.getBBox()),
      })),
    };
  });
}

describe('the statechart', () => {
  const machines = ['agent', 'supervisor', 'pipeline:bugfix', 'agent:judged'];

  it.each(machines)('draws %s with no two state boxes or labels overlapping, and every text inside its box', async (machine) => {
    const server = await startInspectorServer({ agents: [calculator, judgedAgent()], machines: { 'pipeline:bugfix': createPipelineMachine(bugfix) } });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server, `#machine=${encodeURIComponent(machine)}`);
    await page.locator(`#chart svg[data-machine="${machine}"]`).waitFor({ timeout: 30_000 });
    const graph = (await (await fetch(`${server.url}/inspector/api/graph/${encodeURIComponent(machine)}`)).json()) as { graph: MachineGraph };
    const shapes = await drawnShapes(page);
    expect(shapes.states.map((s) => s.id).sort()).toEqual(graph.graph.nodes.filter((n) => !graph.graph.nodes.some((c) => c.parent === n.id)).map((n) => n.id).sort());
    expect(shapes.labels.length).toBe(new Set(graph.graph.edges.filter((e) => e.kind !== 'always').map((e) => `${e.source}|${e.target}`)).size);
    expect(geometryProblems(shapes, graph.graph)).toEqual([]);
    expect(await text(page, '#machine-title')).toBe(machine);
    expect(errors).toEqual([]);
  });

  it('shows a thread of an agent with steps of its author on its own machine, the added states drawn and live', async () => {
    const server = await startInspectorServer({ agents: [calculator, judgedAgent()] });
    cleanups.push(() => server.close());
    const { id } = await server.runtime.launch('judged', 'wait a while, then add', { threadId: 'th-judged' });
    const { page, errors } = await open(server, `#thread=${id}`);
    const chart = page.locator('#chart svg[data-machine="agent:judged"]');
    await chart.waitFor({ timeout: 30_000 });
    // The author's steps are states of the chart, marked as theirs.
    const custom = await page.locator('#chart .node.custom').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-state')));
    expect(custom.sort()).toEqual(['no_devil', 'pace', 'wait_for_a_while']);
    expect(await page.locator('#chart .node[data-state="sleeping"]').count()).toBe(1);
    // The thread decided, was judged, ran the tool, chose to wait: it sleeps, and the chart says so.
    await expect.poll(() => text(page, '#current-state'), { timeout: 10_000 }).toBe('sleeping');
    await page.locator('#chart .node.active[data-state="sleeping"]').waitFor();
    // Each step's result is a custom event of the timeline; the judge judged the intent too.
    await expect.poll(() => page.locator('#timeline li[data-type="custom"]').count()).toBe(5);
    expect(await page.locator('#timeline li[data-type="custom"]').allTextContents()).toEqual([
      expect.stringMatching(/pace.*before decision/),
      expect.stringMatching(/no_devil · accept.*after decision/),
      expect.stringMatching(/pace.*before decision/),
      expect.stringMatching(/no_devil · accept.*after decision/),
      expect.stringMatching(/wait_for_a_while.*\{"waited":3600\}.*intent · sleeps until/),
    ]);
    expect(await text(page, '#chart-machine')).toBe('agent:judged');
    await expect.poll(() => text(page, '.thread-row[data-id="th-judged"]')).toContain('sleeping');
    // An address naming a machine shows that machine's chart on its own; the shared one has no author's states.
    await page.evaluate(() => void ((globalThis as unknown as BrowserGlobals).location.hash = '#machine=agent'));
    await page.locator('#chart svg[data-machine="agent"]').waitFor();
    expect(await text(page, '#machine-title')).toBe('agent');
    expect(await page.locator('#chart .node.custom').count()).toBe(0);
    expect(errors).toEqual([]);
  });
});
