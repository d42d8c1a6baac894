/**
 * Readiness (`GET /ready`) and a store that cannot be reached: a load balancer learns from /ready
 * that this process cannot serve (while /health, liveness, stays 200), and a request that fails
 * because the store is unreachable is answered 503 naming the cause rather than a generic 500.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { CorruptDataError, SystemError } from '../../src/errors.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createHttpApp } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { decide, echo } from './harness.js';

function runtimeOver(store: ThreadStore): Runtime {
  return createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
}

function capture(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
  return { logger, lines };
}

describe('GET /ready', () => {
  it('answers 200 when the store answers, without the bearer token as /health', async () => {
    const runtime = runtimeOver(createMemoryStore());
    const app = createHttpApp(runtime, { token: 'secret' });
    const res = await app.request('/ready');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    await runtime.close();
  });

  it('answers 503 naming the cause when the store does not answer, while /health stays 200', async () => {
    const failing: ThreadStore = {
      ...createMemoryStore(),
      ready: () => Promise.reject(new SystemError('the data directory /srv/threads is not writable', { cause: Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }) })),
    };
    const runtime = runtimeOver(failing);
    const { logger } = capture();
    const app = createHttpApp(runtime, { token: '', logger });
    const res = await app.request('/ready');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'the store is unavailable: the data directory /srv/threads is not writable (EACCES)', code: 'unavailable' });
    expect((await app.request('/health')).status).toBe(200);
    await runtime.close();
  });

  it('answers 503 when the store does not answer within its time', async () => {
    const hanging: ThreadStore = { ...createMemoryStore(), ready: () => new Promise<void>(() => {}) };
    const runtime = runtimeOver(hanging);
    const app = createHttpApp(runtime, { token: '' });
    const res = await app.request('/ready');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: expect.stringMatching(/^the store is unavailable: it did not answer within \d+ ms$/), code: 'unavailable' });
    await runtime.close();
  });
});

describe('a request the store cannot serve', () => {
  it('is answered 503 "the store is unavailable: <cause>" for a SystemError, and logged', async () => {
    const { logger, lines } = capture();
    const h = runtimeOver(createMemoryStore());
    const down: Runtime = { ...h, get: () => Promise.reject(new SystemError('cannot read thread t1: timeout')) };
    const res = await createHttpApp(down, { token: '', logger }).request('/threads/t1');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'the store is unavailable: cannot read thread t1: timeout', code: 'unavailable' });
    expect(lines.some((line) => line.includes('cannot read thread t1') && line.includes('/threads/t1'))).toBe(true);
    await h.close();
  });

  // A NATS restart with a few hundred clients polling logged ~2,000 warn lines (each with its stack)
  // in three seconds (QA28 qapipe D4): one line says the store is down; the next, a while later,
  // counts the failures held back meanwhile (logged at debug).
  it('logs a burst of such failures once, and its next line, a while later, counts those held back', async () => {
    const { logger, lines } = capture();
    const clock = new SimulatedClock();
    const h = runtimeOver(createMemoryStore());
    const down: Runtime = { ...h, clock, get: () => Promise.reject(new SystemError('NATS is unreachable: the connection was lost')) };
    const app = createHttpApp(down, { token: '', logger });
    // When the first one held back failed: a count alone could describe an outage long over.
    const since = new Date(clock.now()).toISOString();
    for (let i = 0; i < 50; i++) expect((await app.request(`/threads/t${i}`)).status).toBe(503);
    const warned = (): string[] => lines.filter((line) => line.includes('the store is unavailable'));
    expect(warned()).toHaveLength(1);
    expect(warned()[0]).toContain('/threads/t0');
    clock.increment(60_000);
    expect((await app.request('/threads/t50')).status).toBe(503);
    expect(warned()).toHaveLength(2);
    expect(JSON.parse(warned()[1]!)).toMatchObject({ level: 40, path: '/threads/t50', heldBack: 49, since, err: { message: 'NATS is unreachable: the connection was lost' } });
    await h.close();
  });

  it('names the cause\'s error code when the message does not', async () => {
    const h = runtimeOver(createMemoryStore());
    const cause = Object.assign(new Error("EACCES: permission denied, link '/srv/a' -> '/srv/b'"), { code: 'EACCES' });
    const down: Runtime = { ...h, launch: () => Promise.reject(new SystemError('cannot take lock /srv/threads/.locks/t1.lock', { cause })) };
    const res = await createHttpApp(down, { token: '' }).request('/threads', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'echo', input: 'x' }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'the store is unavailable: cannot take lock /srv/threads/.locks/t1.lock (EACCES)', code: 'unavailable' });
    await h.close();
  });

  it('stays a 500 with the generic message when the stored data is corrupt: a retry would not help', async () => {
    const { logger } = capture();
    const h = runtimeOver(createMemoryStore());
    const corrupt: Runtime = { ...h, get: () => Promise.reject(new CorruptDataError('thread t1 is corrupt: line 3 is not JSON')) };
    const res = await createHttpApp(corrupt, { token: '', logger }).request('/threads/t1');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'internal server error; the details are in the server log', code: 'internal' });
    await h.close();
  });
});
