import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import type { HumanRequestNotice, TriggerResult } from '../../src/surface/payloads.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { plainClient, startNode, uniqueToken, within, type PlainClient } from './natsTestKit.js';

// A worker killed right after it stored an event, before it published anything about it (found by
// the chaos run: a pipeline child's interrupted-call request that no human ever heard of). The job
// comes back to another worker, which must publish what the dead one could not.
const ACK_WAIT_MS = 1_500;
let server: NatsServerHandle;
let client: PlainClient;
const nodes: NatsNode[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  client = await plainClient(server.url);
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(nodes.splice(0).map((node) => node.close({ drainMs: 1_000 })));
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

/** Starts a worker process that exits right after it stores an event of type `dieAfter`. */
async function doomedWorker(names: { prefix: string; bucket: string }, dieAfter: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'dieAfterWriteWorker.ts')], {
    env: { ...process.env, NATS_URL: server.url, PREFIX: names.prefix, BUCKET: names.bucket, ACK_WAIT_MS: String(ACK_WAIT_MS), DIE_AFTER: dieAfter },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await within(
    new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => line.includes('"ready"') && resolve());
      child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready: ${stderr}`)));
    }),
    30_000,
    'the doomed worker to take jobs',
  );
  return child;
}

describe('a worker killed right after a write', () => {
  it('the human request it stored is still published, by the worker its job goes to next', async () => {
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const doomed = await doomedWorker(names, 'human_request');
    const humans = client.watch<HumanRequestNotice>(`${names.prefix}.human.>`);
    const { subject, messages } = client.inbox<TriggerResult>();
    const exited = new Promise((resolve) => doomed.once('exit', resolve));
    await client.trigger(`${names.prefix}.trigger.calculator`, { input: 'what is 8 / 2', replyTo: subject }, { msgId: 'killed-human' });
    expect(await within(exited, 20_000, 'the doomed worker to die after the write')).toBe(137);
    expect(humans.items).toEqual([]);

    nodes.push(await startNode(server.url, { ...names, agents: [calculator], model: createDemoModel(), queue: { ackWaitMs: ACK_WAIT_MS, retryDelayMs: 200 } }));
    const [result] = await messages.until(1, 20_000, 'the awaiting_human result');
    expect(result).toMatchObject({ threadId: 'trg-killed-human', status: 'awaiting_human' });
    const [notice] = await humans.until(1, 10_000, 'the human request notice');
    expect(notice?.subject).toBe(`${names.prefix}.human.calculator.trg-killed-human`);
    expect(notice?.data).toMatchObject({ threadId: 'trg-killed-human', agent: 'calculator', requestId: result!.pendingRequest!.requestId, kind: 'approval', at: result!.pendingRequest!.at });
  });
});
