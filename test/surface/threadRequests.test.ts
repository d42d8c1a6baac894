import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import type { Bus } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { silentLogger } from '../../src/logger.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import type { CallbackSender } from '../../src/surface/callbacks.js';
import { safePublisher, type SurfaceContext } from '../../src/surface/surfaceContext.js';
import { serveThreadRequests, type ThreadRequests } from '../../src/surface/threadRequests.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One process's request side on `bus`. */
function processOn(bus: Bus, processId: string): { requests: ThreadRequests; ctx: SurfaceContext } {
  const logger = silentLogger();
  const queues = createAgentQueues({ bus });
  const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel(), schedule: queues.schedule });
  const callbacks = { send: async () => {} } as unknown as CallbackSender;
  const ctx: SurfaceContext = { runtime, queues, bus, subjects: queues.subjects, processId, logger, maxPayloadBytes: 1 << 20, callbacks, publish: safePublisher(bus, logger) };
  const requests = serveThreadRequests(ctx);
  cleanups.push(async () => {
    await requests.close();
    await runtime.close();
  });
  return { requests, ctx };
}

describe('hand-offs between processes', () => {
  it('reach the process that runs the thread, not the asking one still answering after its own run', async () => {
    const bus = createMemoryBus();
    cleanups.push(() => bus.close());
    const a = processOn(bus, 'a');
    const b = processOn(bus, 'b');
    // a ran the thread and let it go: it keeps answering for it a moment (its grace).
    a.requests.own('t1')();
    // b runs it now.
    const claim = b.ctx.queues.claim('t1');
    const disown = b.requests.own('t1');
    expect(await a.requests.holds('t1')).toBe(true);
    expect(await a.requests.handOff('t1')).toBe('taken');
    expect(claim.pending).toBe(true);
    claim.release();
    disown();
    // Nobody runs it: a's own answer ("not here") is not mistaken for another process's.
    const c = processOn(bus, 'c');
    c.requests.own('t2')();
    expect(await c.requests.holds('t2')).toBe(false);
    expect(await c.requests.handOff('t2')).toBe('free');
  });
});

describe('a subscriber on > that is not switchyard (a wiretap)', () => {
  it('hides the no-responders answer: a hand-off cannot tell, and the log says why once (qa25-secrets, NATS observation)', async () => {
    const bus = createMemoryBus();
    cleanups.push(() => bus.close());
    const { logger, out } = capturingLogger('warn');
    const queues = createAgentQueues({ bus });
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel(), schedule: queues.schedule });
    const callbacks = { send: async () => {} } as unknown as CallbackSender;
    const requests = serveThreadRequests({ runtime, queues, bus, subjects: queues.subjects, processId: 'p', logger, maxPayloadBytes: 1 << 20, callbacks, publish: safePublisher(bus, logger) });
    cleanups.push(async () => {
      await requests.close();
      await runtime.close();
    });
    bus.subscribe('>', () => {});
    expect(await requests.handOff('t1')).toBe('unknown');
    expect(await requests.handOff('t2')).toBe('unknown');
    expect(out.lines).toEqual([
      expect.objectContaining({
        level: 40,
        threadId: 't1',
        timeoutMs: 2000,
        msg: 'no answer to the hand-off probe of thread t1 within 2000 ms: the process running it is busy, or a NATS subscriber that is not switchyard (such as `nats sub ">"`) hides NATS\'s no-responders answer, and every job then waits for a redelivery before it runs (watch with `nats sub "switchyard.>"` instead); said once per process',
      }),
    ]);
  });
});

describe('reply subjects from outside', () => {
  it('a thread request whose reply subject is one of NATS\'s own ($JS.API...) is not answered there, and says why in the log', async () => {
    const bus = createMemoryBus();
    cleanups.push(() => bus.close());
    const warned: string[] = [];
    let noted!: (outcome: string) => void;
    const outcome = new Promise<string>((resolve) => (noted = resolve));
    const logger = { ...silentLogger(), warn: (_fields: unknown, msg?: string) => void (warned.push(String(msg)), noted('warned')) } as unknown as ReturnType<typeof silentLogger>;
    const queues = createAgentQueues({ bus });
    const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel(), schedule: queues.schedule });
    const callbacks = { send: async () => {} } as unknown as CallbackSender;
    const ctx: SurfaceContext = { runtime, queues, bus, subjects: queues.subjects, processId: 'p', logger, maxPayloadBytes: 1 << 20, callbacks, publish: safePublisher(bus, logger) };
    const requests = serveThreadRequests(ctx);
    cleanups.push(async () => {
      await requests.close();
      await runtime.close();
    });
    // Published there, a JetStream API request would purge the stream with this process's rights.
    bus.subscribe('$JS.API.>', () => noted('answered on $JS.API.STREAM.PURGE.VICTIM'));
    await bus.publish(queues.subjects.thread('nosuch', 'get'), '', { reply: '$JS.API.STREAM.PURGE.VICTIM' });
    expect(await outcome).toBe('warned');
    expect(warned).toEqual([expect.stringMatching(/reply subject/)]);
  });
});

describe('a thread request to a process whose runtime drains', () => {
  it('is answered unavailable, to be sent again (another process takes it once this one has stopped), not as an internal failure', async () => {
    const bus = createMemoryBus();
    cleanups.push(() => bus.close());
    const { ctx } = processOn(bus, 'a');
    const { id } = await ctx.runtime.launch('calculator', 'what is 2 + 3?');
    await ctx.runtime.drain();
    const reply = await bus.request(ctx.subjects.thread(id, 'control'), JSON.stringify({ action: 'pause', by: 'ops' }), { timeoutMs: 5_000 });
    expect(reply.json()).toEqual({ success: true, data: { ok: false, code: 'unavailable', kind: 'unavailable', error: 'control failed: the runtime is draining and takes no new work; send it again' } });
  });
});
