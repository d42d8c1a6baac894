/**
 * The inspector over NATS when a thread is deleted through another process: the API process whose
 * page shows it hears of the deletion (the `<prefix>.deleted.<agent>.<id>` notice) and forgets the
 * thread's actors, as it does for a deletion of its own (what its stream then tells open pages is
 * the same for both: test/inspector/browser.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { joinNats } from '../../src/cli/joinNats.js';
import { inspectorRoutes } from '../../src/inspector/routes.js';
import { silentLogger } from '../../src/logger.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { calculatorModel } from './inspectorFixture.js';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const join = (prefix: string, worker: boolean) =>
  joinNats({ natsUrl: server.url, agents: [calculator], pipelines: [], prefix, worker, observe: !worker, model: calculatorModel(), logger: silentLogger() });

describe('the inspector over NATS, when another process deletes a thread', () => {
  it("forgets the thread's actors, and keeps the others'", async () => {
    const [shown, other, worker] = [await join('dd', false), await join('dd', false), await join('dd', true)];
    const app = inspectorRoutes({ runtime: shown.runtime, bus: shown.bus, prefix: 'dd' });
    try {
      await app.ready;
      await other.runtime.launch('calculator', 'divide 8 by 2', { threadId: 'gone-soon' });
      await other.runtime.launch('calculator', 'divide 9 by 3', { threadId: 'stays' });
      const actorsOf = (threadId: string) => app.registry.list().filter((a) => a.threadId === threadId);
      await vi.waitFor(() => {
        expect(actorsOf('gone-soon')).not.toEqual([]);
        expect(actorsOf('stays')).not.toEqual([]);
      }, 10_000);

      await other.runtime.cancel('gone-soon');
      await vi.waitFor(async () => expect((await shown.runtime.get('gone-soon'))?.status).toBe('cancelled'), 10_000);
      await other.runtime.delete('gone-soon');

      await vi.waitFor(() => expect(actorsOf('gone-soon')).toEqual([]), 10_000);
      expect(actorsOf('stays')).not.toEqual([]);
    } finally {
      await app.close();
      await Promise.all([worker.close(), other.close(), shown.close()]);
    }
  }, 60_000);
});
