/**
 * The statechart while a step of the thread runs (QA22 inspector #2): an agent with steps of its
 * author journals its tool call after its actor entered `executing`, a pipeline its step's call
 * after its actor entered the step's state, so the thread is a version ahead of the actor's
 * snapshot. The page still shows the actor's state, live, while it runs.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { beforeDecision } from '../../src/agent/customStep.js';
import { tool } from '../../src/agent/tool.js';
import type { InspectionMessage } from '../../src/inspector/inspectionMessages.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

const text = (page: Page, selector: string) => page.locator(selector).textContent();

/** A promise the test resolves when it is done looking. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('the statechart of a thread whose step runs', () => {
  it('highlights the tool call an agent with a step of its author is executing, live', async () => {
    const held = gate();
    const slowAdd = tool({ name: 'add', description: 'Add two numbers, slowly', input: z.object({ a: z.number(), b: z.number() }), idempotent: true, run: async ({ a, b }) => (await held.opened, a + b) });
    const paced = agent({
      name: 'paced',
      description: 'a calculator with a step before each decision',
      prompt: 'You are {{agent}}: {{description}}.\nTools:\n{{tools}}',
      tools: [slowAdd],
      beforeDecision: [beforeDecision({ name: 'pace', run: () => ({ output: { ok: true } }) })],
    });
    const server = await startInspectorServer({ agents: [paced] });
    cleanups.push(async () => (held.open(), await server.close()));
    const { id } = await server.runtime.launch('paced', 'add 2 and 3', { threadId: 'th-paced' });
    const { page, errors } = await open(server, `#thread=${id}`);
    await page.locator('#chart svg[data-machine="agent:paced"]').waitFor({ timeout: 30_000 });
    await expect.poll(async () => (await server.runtime.get(id))?.events.at(-1)?.type).toBe('tool_call');

    await expect.poll(() => text(page, '#current-state')).toBe('executing');
    expect(await page.locator('#current-state').getAttribute('class')).toBe('live');
    await page.locator('#chart .node.active[data-state="executing"]').waitFor();
    expect(await text(page, '#liveness')).toMatch(/^live · actor /);

    held.open();
    await expect.poll(() => text(page, '#current-state'), { timeout: 10_000 }).toBe('done');
    expect(errors).toEqual([]);
  });

  it('highlights the code step a pipeline runs, live', async () => {
    const held = gate();
    const outlined = pipeline({ name: 'outlined', description: 'outlines slowly', input: z.object({}), output: z.unknown() })
      .code({ name: 'outline', run: async () => (await held.opened, { ok: true }) })
      .finish(({ results }) => results.outline);
    const server = await startInspectorServer({ pipelines: [outlined] });
    cleanups.push(async () => (held.open(), await server.close()));
    await server.runtime.launch('outlined', {}, { threadId: 'p-outlined' });
    const { page, errors } = await open(server, '#thread=p-outlined');
    await page.locator('#chart svg[data-machine="pipeline:outlined"]').waitFor({ timeout: 30_000 });
    await expect.poll(async () => (await server.runtime.get('p-outlined'))?.events.at(-1)?.type).toBe('tool_call');

    await expect.poll(() => text(page, '#current-state')).toBe('step_outline');
    expect(await page.locator('#current-state').getAttribute('class')).toBe('live');
    await page.locator('#chart .node.active[data-state="step_outline"]').waitFor();

    held.open();
    await expect.poll(() => text(page, '#current-state'), { timeout: 10_000 }).toBe('done');
    expect(errors).toEqual([]);
  });

  it('does not show the state of an actor still active behind a thread that came to rest through another process', async () => {
    const store = createMemoryStore();
    const events: NewEvent[] = [
      { type: 'input', data: { input: 'add 2 and 3' } },
      { type: 'decision', data: { callId: 'call_1', step: 1, intent: 'add', args: { a: 2, b: 3 }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
      { type: 'tool_call', data: { callId: 'call_1', tool: 'add', args: { a: 2, b: 3 }, idempotencyKey: 'th-elsewhere:call_1', attempt: 1 } },
    ];
    await store.create({ id: 'th-elsewhere', agent: 'calculator', events: stampEvents(0, events, new Date().toISOString()) });
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    // A worker's actor entered `executing` a version before the thread's tool call, and says no more.
    const version = (await server.runtime.get('th-elsewhere'))!.version - 1;
    const actor: InspectionMessage = {
      type: '@xstate.actor', sessionId: 'x:1', rootId: 'x:0', createdAt: String(Date.now()), id: 'vm:1:1', _version: '0.7.2', name: 'th-elsewhere', machine: 'agent', parentId: 'x:0', definition: undefined,
      snapshot: { status: 'active', value: 'executing', context: { threadId: 'th-elsewhere', agent: 'calculator', status: 'running', version } },
    };
    await server.bus.publish('switchyard.inspect.vm:1.x:1', actor);
    await server.bus.flush();
    const { page, errors } = await open(server, '#thread=th-elsewhere');
    await expect.poll(() => text(page, '#current-state')).toBe('executing');

    // The thread is cancelled through this server: it rests, whatever the worker's actor last said.
    await server.runtime.cancel('th-elsewhere');
    await expect.poll(() => text(page, '#thread-status')).toContain('cancelled');
    await expect.poll(() => text(page, '#current-state')).toBe('cancelled');
    expect(await page.locator('#current-state').getAttribute('class')).toBe('rest');
    expect(errors).toEqual([]);
  });
});
