import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, type EventObject } from 'xstate';
import { supervisorMachine, type AgentRest } from '../../machines/supervisorMachine.js';
import { agent } from '../../src/agent/agent.js';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

afterEach(() => vi.restoreAllMocks());

/**
 * XState memoizes, per state node and for the machine's whole life, the transitions it found for
 * each event type it was asked about (`candidates-<type>`), handled or not. A child's done and
 * error events are typed by the child's id, which is its thread's id: were they to reach the
 * supervisor's state nodes as they are, a long-running runtime would keep one entry per thread it
 * ever finished (about 150-200 bytes each: 150 MB over a million threads).
 */
describe('the supervisor, over many threads', () => {
  it('asks its state nodes about a fixed set of event types, none named after a thread', async () => {
    const asked = new Set<string>();
    // `next` (XState's internal lookup of a state node's transitions) is where it memoizes them.
    type Lookup = { next: (snapshot: unknown, event: EventObject) => unknown };
    for (const node of [supervisorMachine.root, ...Object.values(supervisorMachine.root.states)] as unknown as Lookup[]) {
      const next = node.next.bind(node);
      vi.spyOn(node, 'next').mockImplementation((snapshot, event) => {
        asked.add(event.type);
        return next(snapshot, event);
      });
    }
    const echo = agent({ name: 'echo', description: 'e', prompt: 'p', tools: [] });
    const model = scriptedModel([], { whenExhausted: () => ({ intent: 'done_for_now', args: { message: 'ok' } }) });
    const rt = createRuntime({ agents: [echo], store: createMemoryStore(), model });
    let ids: string[] = [];
    try {
      ids = await Promise.all(Array.from({ length: 20 }, async (_, n) => (await rt.launch('echo', `job ${n}`)).id));
      await Promise.all(ids.map((id) => rt.settled(id)));
      expect((await rt.get(ids[19]!))?.events.at(-1)?.type).toBe('final');
    } finally {
      await rt.close();
    }
    expect([...asked].filter((type) => ids.some((id) => type.includes(id)))).toEqual([]);
    expect(asked.size).toBeLessThan(12);
  });
});

describe('the supervisor machine given other implementations (provide)', () => {
  it('still reads its children ending: a finished thread frees its slot for the next', async () => {
    const store = createMemoryStore();
    const rests: AgentRest[] = [];
    const echo = agent({ name: 'echo', description: 'e', prompt: 'p', tools: [] });
    const model = scriptedModel([], { whenExhausted: () => ({ intent: 'done_for_now', args: { message: 'ok' } }) });
    const deps = { model, store, clock: systemClock, logger: silentLogger(), children: { check: () => undefined, launch: () => Promise.reject(new Error('no children here')) } };
    const supervisor = createActor(supervisorMachine.provide({}), {
      input: { agents: new Map([['echo', echo]]), deps, maxConcurrent: 1, onRest: (r) => rests.push(r) },
    }).start();
    const input = (id: string) => store.create({ id, agent: 'echo', events: [{ seq: 1, at: new Date().toISOString(), type: 'input', data: { input: id } }] });
    supervisor.send({ type: 'START', thread: await input('t1') });
    supervisor.send({ type: 'START', thread: await input('t2') });
    await new Promise<void>((resolve) => {
      const sub = supervisor.subscribe(() => rests.length === 2 && (sub.unsubscribe(), resolve()));
    });
    expect(rests.map((r) => [r.threadId, r.status])).toEqual([
      ['t1', 'done'],
      ['t2', 'done'],
    ]);
    expect(supervisor.getSnapshot().context.running).toEqual([]);
    supervisor.stop();
  });
});
