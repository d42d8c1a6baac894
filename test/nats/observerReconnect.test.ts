import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { SystemError } from '../../src/errors.js';
import { startTcpProxy } from '../support/tcpProxy.js';
import { eventually, startNode, uniqueToken, useNatsTestBed } from './natsTestKit.js';

// An API process follows the threads that workers run through the events they publish. Events
// published while its connection was down are lost to it (core NATS), and nothing else would tell
// it: a watcher, an SSE stream or a `--wait` launch would wait for an end that already happened.

const bed = useNatsTestBed();
const model = createDemoModel();

describe('an observing process that lost its connection', () => {
  it('catches up with a thread that ended meanwhile once it is connected again', async () => {
    const prefix = `sy${uniqueToken()}`;
    const bucket = `threads_${uniqueToken()}`;
    const worker = await bed.node({ prefix, bucket, agents: [calculator], model, processId: 'worker', observe: false });
    const proxy = await startTcpProxy(Number(new URL(bed.url).port));
    const api = await startNode(proxy.url, { prefix, bucket, agents: [calculator], model, processId: 'api', worker: false });
    try {
      await bed.client.trigger(`${prefix}.trigger.calculator`, { input: 'what is 8 / 2' }, { msgId: 'rc-div' });
      const waiting = await eventually(async () => {
        const view = await worker.runtime.get('trg-rc-div');
        return view?.status === 'awaiting_human' ? view : undefined;
      }, 15_000, 'the approval');
      const seen: string[] = [];
      const watching = (async () => {
        for await (const event of api.runtime.watch('trg-rc-div', { signal: AbortSignal.timeout(30_000) })) seen.push(event.type);
      })();
      await eventually(async () => (seen.includes('human_request') ? true : undefined), 10_000, 'the API process to watch');

      proxy.cut();
      // Answered in the worker (a request over NATS could still reach the cut process's subscription).
      await worker.runtime.respond('trg-rc-div', { requestId: waiting.pendingRequest!.requestId, approved: true, by: 'tester' });
      await eventually(async () => ((await worker.runtime.get('trg-rc-div'))?.status === 'done' ? true : undefined), 15_000, 'the thread to end');
      proxy.restore();

      await eventually(async () => (seen.includes('final') ? true : undefined), 10_000, 'the API process to see the end');
      await watching;
      expect(seen.at(-1)).toBe('final');
      // Its runtime fails at once while one of its two connections (bus, store's background one)
      // is known down (the HTTP API's 503), and one may still, or again, be reconnecting when the
      // watch has caught up: CI once got "NATS is unreachable: the connection was lost 0.2 s ago
      // and is reconnecting" here. Asked again until both are up, as a client does after a 503.
      const settled = await eventually(
        () => api.runtime.settled('trg-rc-div', { signal: AbortSignal.timeout(5_000) }).catch((error: unknown) => {
          if (error instanceof SystemError && /NATS is unreachable/.test(error.message)) return undefined;
          throw error;
        }),
        10_000,
        'the API process to settle the thread once both its connections are back',
        100,
      );
      expect(settled.status).toBe('done');
    } finally {
      await api.close({ drainMs: 500 });
      await proxy.close();
    }
  });
});
