/**
 * `serve --no-worker` on NATS with no worker serving an agent (none running, workers on another
 * prefix, or started with `--agents` that leave it out): the API process says so, once per agent,
 * when a job of it has waited, and again when a worker for it appears.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { joinNats } from '../../src/cli/joinNats.js';
import { watchWorkers } from '../../src/cli/workerWatch.js';
import type { Logger } from '../../src/logger.js';
import { calculatorModel } from '../inspector/inspectorFixture.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';

let server: NatsServerHandle;
beforeAll(async () => {
  server = await startNatsServer();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const join = (prefix: string, worker: boolean, logger: Logger) =>
  joinNats({ natsUrl: server.url, agents: [calculator], pipelines: [], prefix, worker, observe: !worker, model: calculatorModel(), logger, inspectHeartbeatMs: 200 });

const about = (lines: LogLine[], level: number, agent: string): LogLine[] => lines.filter((l) => l.level === level && l.agent === agent && /worker/.test(l.msg ?? ''));

describe('serve --no-worker with no worker serving an agent', () => {
  it('warns once per agent while its jobs wait, names the fix, and says when a worker serves it again', async () => {
    const { logger, out } = capturingLogger('info');
    const api = await join('nw', false, logger);
    // A worker of the same project on another prefix (a typo) serves nothing of this deployment.
    const stray = await join('nw_other', true, capturingLogger('silent').logger);
    const watch = watchWorkers(api, { logger, waitMs: 300, checkMs: 100 });
    let worker: Awaited<ReturnType<typeof join>> | undefined;
    try {
      const first = await api.runtime.launch('calculator', 'add two numbers');
      const second = await api.runtime.launch('calculator', 'add them again');
      await vi.waitFor(() => expect(about(out.lines, 40, 'calculator')).toHaveLength(1), { timeout: 10_000, interval: 50 });
      const warn = about(out.lines, 40, 'calculator')[0]!;
      expect(warn.msg).toContain('switchyard worker');
      expect(warn.msg).toContain('--agents');
      expect(warn.msg).toContain('--prefix');
      expect(warn.msg).toContain('--bucket');
      expect(warn).toMatchObject({ prefix: 'nw', bucket: api.bucket });
      expect((await api.runtime.get(first.id))?.status).toBe('running');

      worker = await join('nw', true, capturingLogger('silent').logger);
      const settled = await Promise.all([first, second].map((t) => api.runtime.settled(t.id, { signal: AbortSignal.timeout(15_000) })));
      expect(settled.map((v) => v.status)).toEqual(['done', 'done']);
      await vi.waitFor(() => expect(about(out.lines, 30, 'calculator')).toHaveLength(1), { timeout: 10_000, interval: 50 });
      // One line for the episode, however many jobs waited and however many checks ran.
      expect(about(out.lines, 40, 'calculator')).toHaveLength(1);
    } finally {
      watch.close();
      await worker?.close();
      await stray.close();
      await api.close();
    }
  }, 60_000);
});
