// `GET /`: what the server serves, for someone who opens its address (a browser, curl).
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { inspectorExtension } from '../../src/inspector/mount.js';
import { createHttpApp, type HttpApp, type HttpOptions } from '../../src/server/httpServer.js';
import { createHarness } from './harness.js';

const API_ROUTES = [
  'GET /health',
  'GET /ready',
  'GET /agents',
  'POST /threads',
  'GET /threads',
  'GET /threads/:id',
  'POST /threads/:id/respond',
  'POST /threads/:id/pause',
  'POST /threads/:id/resume',
  'POST /threads/:id/cancel',
  'DELETE /threads/:id',
  'GET /threads/:id/events',
  'GET /threads/:id/wait',
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function app(options: HttpOptions = {}): HttpApp {
  const h = createHarness();
  const created = createHttpApp(h.runtime, { token: '', ...options });
  cleanups.push(() => h.runtime.close(), () => created.close());
  return created;
}

async function index(served: HttpApp, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await served.request('/', { headers });
  return { status: response.status, body: await response.json() };
}

describe('GET /', () => {
  it('names the API routes (not 404 `no route GET /`)', async () => {
    expect(await index(app())).toEqual({ status: 200, body: { name: 'switchyard', routes: API_ROUTES } });
  });

  it('names the inbound hooks route only when hooks are on', async () => {
    const { body } = await index(app({ hookSecret: 'hook-secret' }));
    expect(body.routes).toEqual([...API_ROUTES.slice(0, 11), 'POST /hooks/:agent', ...API_ROUTES.slice(11)]);
  });

  it("names the inspector's page when it is served, not its own routes", async () => {
    const { body } = await index(app({ extensions: [inspectorExtension({ bus: createMemoryBus() })] }));
    expect(body).toEqual({ name: 'switchyard', routes: API_ROUTES, pages: { inspector: '/inspector' } });
  });

  it('needs no token, as /health: it says what every server serves, no data', async () => {
    const guarded = app({ token: 'sekrit' });
    expect((await index(guarded)).status).toBe(200);
    expect((await guarded.request('/threads')).status).toBe(401);
  });

  it('takes GET only: another method is 405', async () => {
    const response = await app().request('/', { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });
});
