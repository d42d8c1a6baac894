// The HTTP app composed into a host's own hono app under a path (`host.route('/agents', app)`, the
// way hono apps are composed), as an embedder does: the page, its files, the public paths and the
// signed hooks work there as they do at the root (qa26-embed D1).
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { inspectorExtension } from '../../src/inspector/mount.js';
import { createHttpApp, type HttpOptions } from '../../src/server/httpServer.js';
import { signWebhook } from '../../src/server/webhooks.js';
import { createHarness } from './harness.js';

const HOOK_SECRET = 'hook-secret-for-the-mount';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A host app with routes of its own, the switchyard app under `prefix`. */
function hostWith(prefix: string, options: HttpOptions = {}): Hono {
  const h = createHarness();
  const served = createHttpApp(h.runtime, { token: '', extensions: [inspectorExtension({ bus: createMemoryBus() })], ...options });
  cleanups.push(() => h.runtime.close(), () => served.close());
  const host = new Hono();
  host.get('/', (c) => c.text('the host'));
  host.route(prefix, served);
  return host;
}

function signedHook(delivery: string): RequestInit {
  const raw = JSON.stringify({ n: 1 });
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'X-Switchyard-Timestamp': timestamp,
      'X-Switchyard-Signature': signWebhook(raw, HOOK_SECRET, timestamp),
      'X-Switchyard-Delivery': delivery,
    },
    body: raw,
  };
}

describe('the HTTP app mounted under a path of a host app', () => {
  it("serves the inspector's page files under the path (not 404: the page would load without its script)", async () => {
    const host = hostWith('/agents');
    expect((await host.request('/agents/inspector')).status).toBe(200);
    const css = await host.request('/agents/inspector/ui/styles.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect((await host.request('/agents/inspector/ui/main.js')).status).toBe(200);
    expect((await host.request('/agents/inspector/ui/nothing.js')).status).toBe(404);
  });

  it('keeps the public paths open and the rest behind the token there', async () => {
    const host = hostWith('/agents', { token: 'sekrit' });
    for (const path of ['/agents', '/agents/health', '/agents/inspector', '/agents/inspector/ui/main.js']) {
      expect([path, (await host.request(path)).status]).toEqual([path, 200]);
    }
    expect((await host.request('/agents/threads')).status).toBe(401);
    expect((await host.request('/agents/inspector/api/machines')).status).toBe(401);
    expect((await host.request('/agents/threads', { headers: { authorization: 'Bearer sekrit' } })).status).toBe(200);
  });

  it('takes a signed inbound hook there without a bearer token, as at the root', async () => {
    const host = hostWith('/agents', { token: 'sekrit', hookSecret: HOOK_SECRET });
    const res = await host.request('/agents/hooks/echo', signedHook('mounted-1'));
    expect([res.status, ((await res.json()) as { id?: string }).id]).toEqual([201, 'hook-mounted-1']);
  });

  it('works under a deeper path with a parameter in it', async () => {
    const host = hostWith('/tenants/:tenant/agents', { token: 'sekrit', hookSecret: HOOK_SECRET });
    expect((await host.request('/tenants/acme/agents/inspector/ui/styles.css')).status).toBe(200);
    expect((await host.request('/tenants/acme/agents/inspector')).status).toBe(200);
    expect((await host.request('/tenants/acme/agents/hooks/echo', signedHook('mounted-2'))).status).toBe(201);
    expect((await host.request('/tenants/acme/agents/threads')).status).toBe(401);
  });

  it('does not take a path that only ends like a public one as public', async () => {
    const host = hostWith('/agents', { token: 'sekrit', hookSecret: HOOK_SECRET });
    expect((await host.request('/agents/threads/health')).status).toBe(401);
    expect((await host.request('/agents/threads/x/inspector')).status).toBe(401);
  });
});
