/**
 * Launches of one thread id racing on an API process of a NATS deployment (`serve --no-worker`):
 * the KV store's create decides which one created the thread, and only that one answers 201; the
 * others answer 200 with the same thread (QA20 hostile D4: 4 to 7 of 10 answered 201).
 */
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { call } from '../server/harness.js';
import { oneCreated, raceCreates } from '../support/racingCreates.js';
import { uniqueToken, useNatsTestBed } from './natsTestKit.js';

const bed = useNatsTestBed();
const RACERS = 8;

async function apiProcess(): Promise<{ node: NatsNode; base: string; close: () => Promise<void> }> {
  const node = await bed.node({ prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}`, agents: [calculator], model: createDemoModel(), worker: false, processId: 'api' });
  const http = await startHttpServer(node.runtime, { port: 0, token: '' });
  return { node, base: http.url, close: () => http.close() };
}

describe('racing launches of one thread id on a NATS API process', () => {
  it.each([
    ['a threadId', { threadId: 'race-nats-1' }, {}, 'race-nats-1'],
    ['an Idempotency-Key', {}, { 'idempotency-key': 'race-nats-2' }, 'race-nats-2'],
  ])('with %s: one 201, the others 200 with the same thread', async (_name, body, headers, threadId) => {
    const api = await apiProcess();
    try {
      raceCreates(api.node.store, threadId, RACERS).arm();
      const answers = await Promise.all(Array.from({ length: RACERS }, () => call(api.base, 'POST', '/threads', { agent: 'calculator', input: 'what is 1 + 1?', ...body }, headers)));
      expect(oneCreated(answers)).toEqual([...Array<number>(RACERS - 1).fill(200), 201]);
      expect(new Set(answers.map((a) => (a.body as { id: string }).id))).toEqual(new Set([threadId]));
    } finally {
      await api.close();
    }
  }, 30_000);
});
