/**
 * The inspector read on a laptop (QA22 inspector #5, #6, #7): at 1280x720 the statechart's text is
 * drawn at its own size, small text has WCAG AA contrast (4.5:1), the page is no wider than the
 * window and breaks long text between words, the list tells a pipeline's child from its parent,
 * the launch form says what went wrong beside it, and the machines menu names the agents of the
 * shared `agent` machine.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { calculatorTools } from '../../tools/calculator.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { judgedAgent, startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

/** What the probes below use of an element (the project compiles without the DOM library). */
interface Probe {
  readonly textContent: string | null;
  readonly namespaceURI: string | null;
  readonly parentElement: Probe | null;
  readonly firstChild: unknown;
  querySelector(selector: string): Probe | null;
}
/** What the probes use of the page's globals. */
interface ProbeGlobals {
  getComputedStyle(node: Probe): { fill: string; color: string; backgroundColor: string };
  document: {
    documentElement: { scrollWidth: number };
    createRange(): { setStart(node: unknown, at: number): void; setEnd(node: unknown, at: number): void; getClientRects(): Iterable<{ top: number }> };
  };
}
const SVG_NS = 'http://www.w3.org/2000/svg';
const pageWidth = (page: Page) => page.evaluate(() => (globalThis as unknown as ProbeGlobals).document.documentElement.scrollWidth);
const LAPTOP = { width: 1280, height: 720 };

/** A pipeline whose step `research` has the calculator add. */
const report = () =>
  pipeline({ name: 'report', description: 'has the calculator add', input: z.object({ topic: z.string() }), output: z.unknown() })
    .agent({ name: 'research', agent: 'calculator', input: () => 'add 2 and 3' })
    .finish(({ results }) => results.research);

/**
 * The contrast ratio (WCAG 2) of each element's text colour (`fill` for SVG text) against what is
 * behind it: for SVG text the fill of the `rect` beside it, for HTML the nearest opaque background.
 */
function contrasts(page: Page, selector: string): Promise<{ text: string; ratio: number }[]> {
  return page.locator(selector).evaluateAll((elements, svgNs) => {
    const nodes = elements as unknown as Probe[];
    const { getComputedStyle } = globalThis as unknown as ProbeGlobals;
    const rgb = (colour: string) => (colour.match(/[\d.]+/g) ?? []).map(Number);
    const luminance = ([r = 0, g = 0, b = 0]: number[]) => {
      const lin = (c: number) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const behind = (node: Probe): string => {
      const rect = node.parentElement?.querySelector(':scope > rect:not(.ring)');
      if (node.namespaceURI === svgNs && rect) return getComputedStyle(rect).fill;
      for (let at: Probe | null = node; at; at = at.parentElement) {
        const colour = getComputedStyle(at).backgroundColor;
        if ((rgb(colour)[3] ?? 1) > 0.5) return colour;
      }
      return 'rgb(255, 255, 255)';
    };
    return nodes.map((node) => {
      const style = getComputedStyle(node);
      const fore = luminance(rgb(node.namespaceURI === svgNs ? style.fill : style.color));
      const back = luminance(rgb(behind(node)));
      const ratio = (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05);
      return { text: node.textContent ?? '', ratio: Math.round(ratio * 100) / 100 };
    });
  }, SVG_NS);
}

describe('the inspector on a laptop', () => {
  it('draws the statechart at its own size, the panel scrolling, so its captions are not shrunk below 9 px', async () => {
    const server = await startInspectorServer({ agents: [calculator, judgedAgent()] });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server, '#machine=agent%3Ajudged');
    await page.setViewportSize(LAPTOP);
    await page.locator('#chart svg[data-machine="agent:judged"]').waitFor({ timeout: 30_000 });
    const sizes = await page.locator('#chart text.caption, #chart .label text').evaluateAll((texts) =>
      texts.map((t) => Number(t.getAttribute('font-size')) * ((t as unknown as { getScreenCTM(): { a: number } | null }).getScreenCTM()?.a ?? 0)),
    );
    expect(sizes.length).toBeGreaterThan(10);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(8.9);
    // The chart is wider than its panel: the panel scrolls, the page does not.
    expect(await page.locator('#chart').evaluate((c) => c.scrollWidth > c.clientWidth)).toBe(true);
    expect(await pageWidth(page)).toBeLessThanOrEqual(LAPTOP.width);
    // "fit" shrinks it into the panel (no scrolling), and back.
    const fits = () => page.locator('#chart').evaluate((c) => c.scrollWidth <= c.clientWidth);
    await page.click('#chart-size');
    expect(await fits()).toBe(true);
    await page.click('#chart-size');
    expect(await fits()).toBe(false);
    expect(errors).toEqual([]);
  });

  it("scrolls a thread's chart, larger than its panel, to show its active state", async () => {
    const server = await startInspectorServer({ agents: [calculator, judgedAgent()] });
    cleanups.push(() => server.close());
    const { id } = await server.runtime.launch('judged', 'wait a while, then add', { threadId: 'th-judged' });
    const { page, errors } = await open(server, `#thread=${id}`);
    await page.setViewportSize(LAPTOP);
    await page.locator('#chart .node.active[data-state="sleeping"]').waitFor({ timeout: 30_000 });
    await page.locator('#chart-card').scrollIntoViewIfNeeded();
    const inside = await page.locator('#chart').evaluate((chart) => {
      const panel = chart.getBoundingClientRect();
      const box = chart.querySelector('.node.active')!.getBoundingClientRect();
      return box.left >= panel.left && box.right <= panel.right && box.top >= panel.top && box.bottom <= panel.bottom;
    });
    expect(inside).toBe(true);
    expect(errors).toEqual([]);
  });

  it('gives small text a contrast of at least 4.5:1: chart captions, titles and labels, the list\'s ages, hints', async () => {
    const store = createMemoryStore();
    const server = await startInspectorServer({ agents: [calculator, judgedAgent()], store });
    cleanups.push(() => server.close());
    for (const [threadId, input] of [
      ['th-sum', 'add 2 and 3'],
      ['th-divide', 'divide 8 by 2'],
    ]) {
      await server.runtime.launch('calculator', input!, { threadId });
      await server.runtime.settled(threadId!);
    }
    const { page, errors } = await open(server, '#machine=agent%3Ajudged');
    await page.locator('#chart svg[data-machine="agent:judged"]').waitFor({ timeout: 30_000 });
    await page.locator('.thread-row .when').first().waitFor();
    const selectors = ['#chart .node:not(.active) text.caption', '#chart .frame text', '#chart .label:not(.hot) text', '#chart .label.k-error:not(.hot) text', '.thread-row .when', '.thread-row .ask', '.hint', '#timeline .time', '#actors th', '#actors tr.rest td'];
    const low: { selector: string; text: string; ratio: number }[] = [];
    for (const selector of selectors) {
      const found = await contrasts(page, selector);
      // The timeline is empty on a machine's page, and live actors may all be live.
      if (!['#timeline .time', '#actors tr.rest td'].includes(selector)) expect(found.length, selector).toBeGreaterThan(0);
      low.push(...found.filter((f) => f.ratio < 4.5).map((f) => ({ selector, ...f })));
    }
    // A thread's statuses: the pills, the state in the chart's header, the active state's box.
    for (const [threadId, active] of [
      ['th-sum', 'done'],
      ['th-divide', 'awaitingHuman'],
    ]) {
      await page.evaluate((hash) => void ((globalThis as unknown as { location: { hash: string } }).location.hash = hash), `#thread=${threadId}`);
      await page.locator(`#chart .node.active[data-state="${active}"]`).waitFor({ timeout: 30_000 });
      for (const selector of ['.thread-row .pill', '#current-state', '#chart .node.active text']) {
        const found = await contrasts(page, selector);
        expect(found.length, selector).toBeGreaterThan(0);
        low.push(...found.filter((f) => f.ratio < 4.5).map((f) => ({ selector, ...f })));
      }
    }
    expect(low).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('keeps the page within a 1280x720 window on a thread with a long error, breaking its text between words', async () => {
    const store = createMemoryStore();
    const message =
      'the tool http_fetch failed: connection refused while reading https://reports.example.com/quarterly/2026/q3/summary-of-everything.json after 3 attempts; the upstream answered nothing';
    const events: NewEvent[] = [
      { type: 'input', data: { input: 'fetch the report' } },
      { type: 'error', data: { kind: 'tool_error', message, tool: 'http_fetch', attempt: 3 } },
      { type: 'escalation', data: { reason: 'max_consecutive_errors', requestId: 'req_1', message: `Errors 3 times in a row; the last one: ${message}` } },
    ];
    await store.create({ id: 'th-long-error', agent: 'calculator', events: stampEvents(0, events, new Date().toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server, '#thread=th-long-error');
    await page.setViewportSize(LAPTOP);
    await page.locator('#timeline li[data-type="escalation"]').waitFor();
    expect(await pageWidth(page)).toBeLessThanOrEqual(LAPTOP.width);
    // Each word of the error is on one line.
    const split = await page.locator('#timeline .body code').evaluateAll((codes) => {
      const broken: string[] = [];
      for (const code of codes) {
      const node = code.firstChild!;
      const text = node.textContent ?? '';
      for (const word of text.matchAll(/[A-Za-z_]{4,}/g)) {
        const range = (globalThis as unknown as ProbeGlobals).document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (lines.size > 1) broken.push(word[0]);
      }
      }
      return broken;
    });
    expect(split).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("shows a pipeline step's name whole beside its child's link, and the end of an id that tells a child from its parent", async () => {
    const server = await startInspectorServer({ pipelines: [report()] });
    cleanups.push(() => server.close());
    const parent = 'th_127766bf-47b5-486b-9a2f-08ef2b3c0ffe';
    await server.runtime.launch('report', { topic: 'sums' }, { threadId: parent });
    await server.runtime.settled(parent);
    const { page, errors } = await open(server, `#thread=${parent}`);
    await page.setViewportSize(LAPTOP);
    const call = page.locator('#timeline li[data-type="tool_call"]').first();
    await call.locator('.delegated').waitFor();
    expect(await call.locator('.title').textContent()).toBe('research');
    expect(await call.locator('.title').evaluate((t) => t.scrollWidth <= t.clientWidth)).toBe(true);
    // Both rows: the end of each id is drawn inside its row.
    const ends = await page.locator('.thread-row .id').evaluateAll((ids) =>
      ids.map((id) => {
        const box = id.getBoundingClientRect();
        const tail = id.querySelector('.tail');
        const end = tail?.getBoundingClientRect();
        return { text: tail?.textContent ?? '', shown: end !== undefined && end.right <= box.right + 0.5 && end.width > 0 };
      }),
    );
    expect(ends.sort((a, b) => a.text.localeCompare(b.text))).toEqual([
      { text: '--research', shown: true },
      { text: '0ffe', shown: true },
    ]);
    expect(errors).toEqual([]);
  });

  it("keeps a row's age whole beside a long status and agent name, cutting the agent's name instead", async () => {
    const longName = agent({ name: 'researcher_of_quarterly_reports', description: 'divides', prompt: 'You are {{agent}}.\n{{tools}}', tools: calculatorTools });
    const server = await startInspectorServer({ agents: [longName] });
    cleanups.push(() => server.close());
    const thread = await server.runtime.launch('researcher_of_quarterly_reports', 'divide 8 by 2');
    expect((await server.runtime.settled(thread.id)).status).toBe('awaiting_human');
    const { page, errors } = await open(server, `#thread=${thread.id}`);
    await page.setViewportSize(LAPTOP);
    const when = page.locator('.thread-row .meta .when').first();
    await when.waitFor();
    const shown = await when.evaluate((age) => {
      const row = age.parentElement!.getBoundingClientRect();
      const box = age.getBoundingClientRect();
      return { whole: age.scrollWidth <= age.clientWidth && box.width > 0, inside: box.right <= row.right + 0.5 };
    });
    expect(shown).toEqual({ whole: true, inside: true });
    expect(errors).toEqual([]);
  });

  it('says beside the launch form why a launch failed, asks a pipeline for JSON, and names the agents of the shared machine', async () => {
    const server = await startInspectorServer({ agents: [calculator, judgedAgent()], pipelines: [report()] });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.locator('#launch:not([hidden])').waitFor();
    await page.selectOption('#launch-agent', 'calculator');
    const placeholder = () => page.locator('#launch-input').getAttribute('placeholder');
    expect(await placeholder()).not.toMatch(/JSON/);
    await page.selectOption('#launch-agent', 'report');
    expect(await placeholder()).toMatch(/JSON/);
    await page.fill('#launch-input', 'not json');
    await page.click('#launch-send');
    await expect.poll(() => page.locator('#launch-error').textContent()).toMatch(/invalid input/);
    expect(await page.locator('#launch-error').isVisible()).toBe(true);
    expect(dialogs).toEqual([]);
    // Typing again clears it.
    await page.fill('#launch-input', '{"topic": "sums"}');
    expect(await page.locator('#launch-error').isVisible()).toBe(false);

    await expect.poll(() => page.locator('#machine-picker option[value="agent"]').textContent()).toBe('agent (calculator)');
    expect(await page.locator('#machine-picker option[value="agent:judged"]').textContent()).toBe('agent:judged');
    // Failed launches log the HTTP error in the console; nothing else.
    expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
  });
});
