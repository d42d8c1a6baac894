/**
 * GET /threads says why each failed or cancelled thread ended (qa27-observe D5): "what failed and
 * why" needs no GET per thread.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime, type ThreadView } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { call, decide, echo, launchAndWait } from './harness.js';

let runtime: Runtime | undefined;
let server: HttpServer | undefined;

afterEach(async () => {
  await server?.close();
  await runtime?.close();
  server = runtime = undefined;
});

describe('GET /threads of ended threads', () => {
  it('carries failure {kind, message, by?} on a failed or cancelled row, and none on a done one', async () => {
    const store = createMemoryStore();
    const at = new Date().toISOString();
    await store.create({
      id: 'th-failed',
      agent: 'calculator',
      events: [
        { seq: 1, at, type: 'input', data: { input: { op: 'add', a: 1, b: 2 } } },
        { seq: 2, at, type: 'failed', data: { reason: 'thread too large for its store' } },
      ],
    });
    runtime = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([], { whenExhausted: decide }) });
    server = await startHttpServer(runtime, { port: 0, token: '' });
    const base = server.url;
    const waiting = await launchAndWait(base, 'calculator', { ask: 'which one?' });
    expect((await call<ThreadView>(base, 'POST', `/threads/${waiting.id}/cancel`, { reason: 'not needed', by: 'ops' })).body.status).toBe('cancelled');
    const done = await launchAndWait(base, 'echo', 'hi');
    expect(done.status).toBe('done');

    type Row = { id: string; status: string; failure?: unknown };
    for (const query of ['?status=failed,cancelled', '', '?after=']) {
      const rows = new Map((await call<{ threads: Row[] }>(base, 'GET', `/threads${query}`)).body.threads.map((t) => [t.id, t]));
      expect(rows.get('th-failed')?.failure).toEqual({ kind: 'failed', message: 'thread too large for its store' });
      expect(rows.get(waiting.id)?.failure).toEqual({ kind: 'cancelled', message: 'not needed', by: 'ops' });
      if (query.startsWith('?status')) continue;
      expect(rows.get(done.id)).toMatchObject({ status: 'done' });
      expect(rows.get(done.id)).not.toHaveProperty('failure');
    }
  });
});
