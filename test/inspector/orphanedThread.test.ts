/**
 * The inspector's thread view of a thread whose worker went mid-run (QA20 D12: killed mid-tool-call
 * on NATS, the thread runs nowhere until its job is delivered again after the ack wait), in a real
 * browser. The workers are simulated on the server's bus as the presence tests do: their actors'
 * inspection messages and their presence (alive, then a goodbye).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { InspectionMessage, PresenceMessage } from '../../src/inspector/inspectionMessages.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { startInspectorServer, type InspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open: openPage } = browserForTests();

const text = (page: Page, selector: string) => page.locator(selector).textContent();

/** A thread whose tool call was journaled and has no result: `running`, its tool executing. */
const midToolCall = (threadId: string): NewEvent[] => [
  { type: 'input', data: { input: 'add 2 and 3' } },
  { type: 'decision', data: { callId: 'call_1', step: 1, intent: 'add', args: { a: 2, b: 3 }, model: 'm', promptHash: 'sha256:0', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } },
  { type: 'tool_call', data: { callId: 'call_1', tool: 'add', args: { a: 2, b: 3 }, idempotencyKey: `${threadId}:call_1`, attempt: 1 } },
];

/** A worker process, as its bus inspector speaks on `switchyard.inspect.<processId>[.<sessionId>]`. */
function simulatedWorker(server: InspectorServer, processId: string) {
  let sequence = 0;
  const common = (sessionId: string) => ({ sessionId, rootId: 'x:0', createdAt: String(Date.now()), id: `${processId}:${++sequence}`, _version: '0.7.2' });
  const publish = (message: InspectionMessage) => server.bus.publish(`switchyard.inspect.${processId}.${message.sessionId}`, message);
  const snapshot = (threadId: string, version: number, status: 'active' | 'stopped') => ({ status, value: 'executing', context: { threadId, agent: 'calculator', status: 'running', version } });
  return {
    announce: (state: PresenceMessage['state']) =>
      server.bus.publish(`switchyard.inspect.${processId}`, { type: '@switchyard.presence', processId, state, intervalMs: 60_000, createdAt: String(Date.now()) } satisfies PresenceMessage),
    /** Its agent actor starts running the thread. */
    runs: (sessionId: string, threadId: string, version: number) =>
      publish({ ...common(sessionId), type: '@xstate.actor', name: threadId, machine: 'agent', parentId: 'x:0', definition: undefined, snapshot: snapshot(threadId, version, 'active') }),
    /** Its agent actor stops by itself: the thread rests (a pipeline waiting on its child does, status running). */
    rests: (sessionId: string, threadId: string, version: number) =>
      publish({ ...common(sessionId), type: '@xstate.snapshot', event: { type: 'xstate.stop' }, snapshot: snapshot(threadId, version, 'stopped'), actor: { name: threadId, machine: 'agent', parentId: 'x:0' } }),
  };
}

describe('the inspector’s thread view, when the process that ran the thread goes', () => {
  it('says a running thread whose process went mid-run is orphaned until its job is delivered again, and stops saying so when another process picks it up', async () => {
    const store = createMemoryStore();
    const at = new Date().toISOString();
    await store.create({ id: 'th-orphan', agent: 'calculator', events: stampEvents(0, midToolCall('th-orphan'), at) });
    await store.create({ id: 'th-resting', agent: 'calculator', events: stampEvents(0, midToolCall('th-resting'), at) });
    // The server runs neither (nothing recovers them here): the simulated workers do.
    const server = await startInspectorServer({ store });
    cleanups.push(() => server.close());
    const version = (await server.runtime.get('th-orphan'))!.version;
    expect((await server.runtime.get('th-orphan'))!.status).toBe('running');
    const killed = simulatedWorker(server, 'vm:31929');
    await killed.announce('alive');
    await killed.runs('x:1', 'th-orphan', version);
    await killed.runs('x:2', 'th-resting', version);
    await killed.rests('x:2', 'th-resting', version);
    await server.bus.flush();

    const { page, errors } = await openPage(server, '#thread=th-orphan');
    await expect.poll(() => text(page, '#liveness')).toBe('live · actor x:1 on vm:31929');

    // The worker goes while its actor runs the thread.
    await killed.announce('gone');
    await server.bus.flush();
    const notice = 'the process that ran it (vm:31929) is gone; its job is delivered again to another worker after the queue’s ack wait';
    await expect.poll(() => text(page, '#liveness')).toBe(notice);
    expect(await text(page, '#thread-status')).toContain('running');
    // The badge still names the state it was in, and does not claim the thread is at rest.
    expect(await text(page, '#current-state')).toBe('executing');
    expect(await page.locator('#current-state').getAttribute('class')).toBe('orphaned');
    expect(await text(page, '#chart-card')).not.toContain('at rest');

    // Another worker takes the job delivered again: the thread is its, live, and nothing is orphaned.
    const next = simulatedWorker(server, 'vm:40001');
    await next.announce('alive');
    await next.runs('x:7', 'th-orphan', version);
    await server.bus.flush();
    await expect.poll(() => text(page, '#liveness')).toBe('live · actor x:7 on vm:40001');
    expect(await page.locator('#current-state').getAttribute('class')).toBe('live');

    // A running thread whose actor had stopped by itself (at rest) before its process went is not orphaned.
    await page.evaluate(() => (globalThis as unknown as { location: { hash: string } }).location.hash = '#thread=th-resting');
    await page.locator('#thread-title', { hasText: 'th-resting' }).waitFor();
    await expect.poll(() => text(page, '#liveness')).toBe('at rest · no actor in memory');
    expect(await page.locator('#current-state').getAttribute('class')).toBe('rest');
    expect(errors).toEqual([]);
  });
});
