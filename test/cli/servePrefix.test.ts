/**
 * `serve --nats-url` with a subject prefix of its own (`--prefix`, or `SWITCHYARD_PREFIX`): its
 * inspector listens where the processes publish their actors (`<prefix>.inspect.>`), so the page
 * shows the live actors of the deployment, as it does with the default prefix.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ActorRecord } from '../../src/inspector/actorRegistry.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { serveInProcess } from './runInProcess.js';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
}, 120_000);
afterAll(async () => {
  await nats?.stop();
});

const serve = (args: readonly string[], env: Record<string, string>) => serveInProcess(args, { NATS_URL: nats.url, ...env });

describe('serve on NATS with a prefix of its own', () => {
  it.each([
    ['--prefix', ['--prefix', 'qa3'], {}],
    ['SWITCHYARD_PREFIX', [], { SWITCHYARD_PREFIX: 'qa4' }],
  ] as const)('shows the live actors of its threads in the inspector (prefix from %s)', async (_, args, env) => {
    const server = await serve(args, env);
    try {
      const launched = await fetch(`${server.url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'calculator', input: 'what is (3 + 4) / 2' }) });
      expect(launched.status).toBe(201);
      const { id } = (await launched.json()) as { id: string };
      await vi.waitFor(
        async () => {
          const body = (await (await fetch(`${server.url}/inspector/api/actors`)).json()) as { processes: { processId: string; live: boolean }[]; actors: ActorRecord[] };
          const actor = body.actors.find((a) => a.threadId === id);
          expect(actor, JSON.stringify(body)).toBeDefined();
          expect(body.processes).toContainEqual(expect.objectContaining({ processId: actor!.processId, live: true }));
        },
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
