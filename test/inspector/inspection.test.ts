import { createServer } from 'node:net';
import { createInspector, createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import { describe, expect, it, vi } from 'vitest';
import { assign, createActor, createMachine, setup } from 'xstate';
import { calculator } from '../../agents/calculator/index.js';
import type { BusMessage } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createBusInspector, STATELY_INSPECT_VERSION, subjectToken } from '../../src/inspector/busInspector.js';
import type { InspectionMessage } from '../../src/inspector/inspectionMessages.js';
import { summarizeEvent } from '../../src/inspector/summaries.js';
import type { Model } from '../../src/model/model.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { calculatorModel } from './inspectorFixture.js';

const SECRET = 'sk-test-0123456789abcdefghijklmnop';

/** The calculator's scripted model, holding an API key the way a real client does. */
function modelWithSecret(): Model & { apiKey: string } {
  return Object.assign(calculatorModel(), { apiKey: SECRET });
}

/** The inspection messages (`<prefix>.inspect.<process>.<session>`; a process's heartbeat is on `<prefix>.inspect.<process>`). */
function collect(bus: ReturnType<typeof createMemoryBus>, pattern = 'switchyard.inspect.*.*') {
  const messages: { subject: string; text: string; data: InspectionMessage }[] = [];
  bus.subscribe(pattern, (msg: BusMessage) => {
    const parsed = msg.json();
    if (parsed.success) messages.push({ subject: msg.subject, text: msg.text(), data: parsed.data as InspectionMessage });
  });
  return messages;
}

describe('createBusInspector', () => {
  it('publishes every actor of a runtime on <prefix>.inspect.<process>.<session> in the @statelyai/inspect shape', async () => {
    const bus = createMemoryBus();
    const messages = collect(bus);
    const inspector = createBusInspector({ bus, processId: 'host.example.com:42' });
    expect(inspector.processId).toBe('host_example_com:42');
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: modelWithSecret(), inspect: inspector.inspect });
    const { id } = await runtime.launch('calculator', 'divide 8 by 2');
    const waiting = await runtime.settled(id);
    expect(waiting.status).toBe('awaiting_human');
    await inspector.flush();
    await bus.flush();

    expect(messages.length).toBeGreaterThan(5);
    for (const { subject, data } of messages) {
      expect(subject).toBe(`switchyard.inspect.host_example_com:42.${subjectToken(data.sessionId)}`);
      expect(data).toMatchObject({ _version: STATELY_INSPECT_VERSION, sessionId: expect.stringMatching(/^x:\d+$/), createdAt: expect.stringMatching(/^\d+$/), id: expect.any(String) });
      expect(['@xstate.actor', '@xstate.snapshot', '@xstate.event']).toContain(data.type);
    }
    expect(STATELY_INSPECT_VERSION).toMatch(/^\d+\.\d+\.\d+/);

    // One actor event per actor, each with the definition a remote page draws the chart from.
    const actors = messages.map((m) => m.data).filter((m) => m.type === '@xstate.actor');
    const supervisor = actors.find((a) => a.name === 'supervisor')!;
    const agent = actors.find((a) => a.name === id)!;
    expect(supervisor).toMatchObject({ machine: 'supervisor' });
    expect(supervisor.parentId).toBeUndefined();
    expect(agent).toMatchObject({ machine: 'agent', parentId: supervisor.sessionId, rootId: supervisor.sessionId });
    const definition = JSON.parse(agent.definition!) as { id: string; initial: string; states: Record<string, { always?: unknown }> };
    expect(definition).toMatchObject({ id: 'agent', initial: 'routing' });
    expect(definition.states.routing!.always).toHaveLength(11);
    // The agent's actor runs its steps itself: no actor under it.
    expect(actors.filter((a) => a.parentId === agent.sessionId)).toEqual([]);
    expect(new Set(actors.map((a) => a.sessionId)).size).toBe(actors.length);

    // The agent's snapshots: its state values, and a context summary only.
    const snapshots = messages.map((m) => m.data).filter((m) => m.type === '@xstate.snapshot' && m.sessionId === agent.sessionId);
    expect(snapshots.map((s) => s.type === '@xstate.snapshot' && s.snapshot.value)).toContain('awaitingHuman');
    for (const s of snapshots) {
      if (s.type !== '@xstate.snapshot') continue;
      expect(Object.keys(s.snapshot.context!).sort()).toEqual(['agent', 'status', 'threadId', 'version']);
      expect(s.snapshot.context).toMatchObject({ threadId: id, agent: 'calculator' });
    }
    const last = snapshots[snapshots.length - 1]!;
    // The supervisor evicts an agent that waits for a human: its last snapshot is stopped where it rested.
    expect(last).toMatchObject({ snapshot: { status: 'stopped', value: 'awaitingHuman', context: { status: 'awaiting_human', version: waiting.version } } });

    // Events sent to actors are summaries too: START carries a thread, published as its id and a count.
    const start = messages.map((m) => m.data).find((m) => m.type === '@xstate.event' && m.event.type === 'START')!;
    expect(start).toMatchObject({ type: '@xstate.event', sessionId: supervisor.sessionId, event: { type: 'START', thread: { id, agent: 'calculator', events: '[1 item]' } } });

    // Nothing private leaves the process: no key, no prompt, no thread contents, no model or store.
    const prompt = calculator.prompt.text.trim().split('\n')[0]!.slice(0, 40);
    for (const { text, data } of messages) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('divide 8 by 2');
      expect(text).not.toContain(prompt);
      expect(text.length).toBeLessThan(data.type === '@xstate.actor' ? 12_000 : 2_000);
    }
    await runtime.close();
    await inspector.close();
    await bus.close();
  });

  it('has the same fields as @statelyai/inspect’s own events', async () => {
    const bus = createMemoryBus();
    const messages = collect(bus);
    const ours = createBusInspector({ bus, internalEvents: true });
    const theirs: StatelyInspectionEvent[] = [];
    const reference = createInspector({ send: (event) => void theirs.push(event) });
    const machine = createMachine({ id: 'toggle', initial: 'off', states: { off: { on: { FLIP: 'on' } }, on: { on: { FLIP: 'off' } } } });
    const actor = createActor(machine, {
      inspect: (event) => {
        ours.inspect(event);
        reference.inspect.next?.(event);
      },
    });
    actor.start();
    actor.send({ type: 'FLIP' });
    await ours.flush();
    await bus.flush();
    await vi.waitFor(() => expect(theirs.length).toBeGreaterThanOrEqual(4));
    for (const type of ['@xstate.actor', '@xstate.snapshot', '@xstate.event'] as const) {
      // On the wire: fields that are undefined (a root's parentId) are left out by both.
      const reference = JSON.parse(JSON.stringify(theirs.find((e) => e.type === type)!)) as object;
      const published = messages.find((m) => m.data.type === type)!.data;
      expect(Object.keys(published)).toEqual(expect.arrayContaining(Object.keys(reference)));
    }
    const published = messages.map((m) => m.data);
    // The actor's snapshot is read when it is published (as @statelyai/inspect does): here after FLIP.
    expect(published.find((m) => m.type === '@xstate.actor')).toMatchObject({ name: 'toggle', definition: JSON.stringify(machine.config), snapshot: { status: 'active', value: 'on' } });
    expect(published.filter((m) => m.type === '@xstate.snapshot').map((m) => m.type === '@xstate.snapshot' && m.snapshot.value)).toEqual(['on']);
    expect(published.filter((m) => m.type === '@xstate.event').map((m) => m.type === '@xstate.event' && m.event.type)).toEqual(['xstate.init', 'FLIP']);
    actor.stop();
    await ours.close();
    await bus.close();
  });

  it('coalesces snapshots per actor, redacts secret-named fields and stops at close', async () => {
    const bus = createMemoryBus();
    const messages = collect(bus);
    const inspector = createBusInspector({ bus, processId: 'p1' });
    const counter = setup({ types: { context: {} as { count: number; apiToken: string; note: string }, events: {} as { type: 'INC'; password?: string } } }).createMachine({
      id: 'counter',
      context: { count: 0, apiToken: 'tok-very-secret', note: 'x'.repeat(500) },
      on: { INC: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
    });
    const actor = createActor(counter, { inspect: inspector.inspect });
    actor.start();
    for (let i = 0; i < 100; i++) actor.send({ type: 'INC', password: 'hunter2' });
    await inspector.flush();
    await bus.flush();
    const snapshots = messages.map((m) => m.data).filter((m) => m.type === '@xstate.snapshot');
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]).toMatchObject({ snapshot: { status: 'active', context: { count: 100, apiToken: '[REDACTED]' } }, event: { type: 'INC', password: '[REDACTED]' } });
    const note = (snapshots[0] as unknown as { snapshot: { context: { note: string } } }).snapshot.context.note;
    expect(note.length).toBeLessThanOrEqual(200);
    expect(messages.filter((m) => m.data.type === '@xstate.event')).toHaveLength(100);
    for (const m of messages) expect(m.text).not.toMatch(/hunter2|tok-very-secret/);
    // The definition keeps what the chart needs, not the initial context.
    const definition = messages.find((m) => m.data.type === '@xstate.actor')!.data;
    expect(definition.type === '@xstate.actor' && JSON.parse(definition.definition!)).toEqual({ id: 'counter', on: { INC: { actions: { type: 'assign' } } } });

    await inspector.close();
    const before = messages.length;
    actor.send({ type: 'INC' });
    await inspector.flush();
    await bus.flush();
    expect(messages.length).toBe(before);
    actor.stop();
    await bus.close();
  });

  it('summarizes events shallowly', () => {
    expect(summarizeEvent({ type: 'RESPOND', response: { requestId: 'r1', approved: true, nested: { deep: 1 } } })).toEqual({
      type: 'RESPOND',
      response: { requestId: 'r1', approved: true },
    });
    expect(summarizeEvent({ type: 'x', list: [1, 2, 3], error: new Error('boom'), fn: () => 1 })).toEqual({ type: 'x', list: '[3 items]', error: 'boom' });
    expect(subjectToken('a.b c*d>e')).toBe('a_b_c_d_e');
  });

  it('never breaks the runtime when the bus is closed or the WebSocket inspector is unreachable', async () => {
    const bus = createMemoryBus();
    const errors: unknown[] = [];
    const port = await freePort();
    const inspector = createBusInspector({ bus, websocketUrl: `ws://127.0.0.1:${port}`, onError: (e) => errors.push(e) });
    await bus.close();
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: calculatorModel(), inspect: inspector.inspect });
    const { id } = await runtime.launch('calculator', 'add 2 and 3');
    expect((await runtime.settled(id)).status).toBe('done');
    await inspector.flush();
    expect(errors.length).toBeGreaterThan(0);
    await inspector.close();
    await runtime.close();
  });

  it('feeds a @statelyai/inspect WebSocket inspector with the same events', async () => {
    const port = await freePort();
    const server = createInspectorServer({ port, autoOpen: false });
    const bus = createMemoryBus();
    const inspector = createBusInspector({ bus, websocketUrl: `ws://127.0.0.1:${port}` });
    try {
      const received: StatelyInspectionEvent[] = [];
      const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: calculatorModel(), inspect: inspector.inspect });
      const { id } = await runtime.launch('calculator', 'add 2 and 3', { threadId: 'ws-thread' });
      await runtime.settled(id);
      await inspector.flush();
      // The server replays what it got to a receiver that connects later.
      await vi.waitFor(
        () => {
          if (received.length === 0) {
            createWebSocketReceiver({ server: `ws://127.0.0.1:${port}` }).subscribe((event) => received.push(event));
          }
          expect(received.some((e) => e.type === '@xstate.actor' && e.name === 'ws-thread')).toBe(true);
        },
        { timeout: 10_000, interval: 500 },
      );
      const snapshot = received.find((e) => e.type === '@xstate.snapshot' && (e.snapshot as { value?: unknown }).value === 'done');
      expect(snapshot).toBeDefined();
      expect(JSON.stringify(received)).not.toContain('add 2 and 3');
      await runtime.close();
    } finally {
      await inspector.close();
      server.stop();
      await bus.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
