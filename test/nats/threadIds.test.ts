/**
 * Thread ids have one limit on every surface and on both deployments: 1 to 128 letters, digits or
 * `_ : -` (the runtime's THREAD_ID_PATTERN, what README documents). The longest ids, escaped to
 * three characters a piece in store keys, round-trip (launch, get, list, respond) on NATS and on
 * the embedded file store; longer ones (2049 to 10000 characters too) are refused with an error
 * that names the limit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { InvalidInputError } from '../../src/errors.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createFileStore } from '../../src/store/fileStore.js';
import type { ErrorReply, ThreadReply, TriggerResult } from '../../src/surface/payloads.js';
import { uniqueToken, useNatsTestBed } from './natsTestKit.js';

const bed = useNatsTestBed();
const root = mkdtempSync(join(tmpdir(), 'switchyard-ids-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Ids of 128 characters whose store keys are longest (upper-case letters and `:` escape to three). */
const LONGEST = ['A:'.repeat(64), ':'.repeat(128), 'Z'.repeat(127) + '-'];
const TOO_LONG = [129, 2049, 3000, 4000, 10_000];
const RULE = /1 to 128 letters, digits or _ : -/;
const DIVIDE = 'what is (3 + 4) / 2';

describe('thread ids on NATS', () => {
  it('the longest round-trip: a trigger launches, get, list and respond find the thread', async () => {
    const prefix = `sy${uniqueToken()}`;
    const node = await bed.node({ agents: [calculator], model: createDemoModel(), prefix });
    for (const id of LONGEST) {
      const { subject, messages } = bed.client.inbox<TriggerResult>();
      await bed.client.trigger(`${prefix}.trigger.calculator`, { input: DIVIDE, threadId: id, replyTo: subject }, { msgId: `m-${uniqueToken()}` });
      const [waiting] = await messages.until(1, 15_000, 'the awaiting_human result');
      expect(waiting).toMatchObject({ threadId: id, status: 'awaiting_human' });
      expect(await bed.client.request<ThreadReply>(`${prefix}.thread.${id}.get`, '')).toMatchObject({ ok: true, thread: { id, status: 'awaiting_human' } });
      expect((await node.runtime.list({ agent: 'calculator', limit: 100 })).map((s) => s.id)).toContain(id);
      const reply = await bed.client.request<ThreadReply>(`${prefix}.thread.${id}.respond`, { requestId: waiting!.pendingRequest!.requestId, approved: true });
      expect(reply).toMatchObject({ ok: true, thread: { id } });
      const [, done] = await messages.until(2, 15_000, 'the final result');
      expect(done).toMatchObject({ threadId: id, status: 'done', output: '(3 + 4) / 2 = 3.5' });
    }
  });

  it('longer ones are refused, naming the limit: a trigger gets an error reply, a thread request an error', async () => {
    const prefix = `sy${uniqueToken()}`;
    await bed.node({ agents: [calculator], model: createDemoModel(), prefix });
    for (const length of TOO_LONG) {
      const { subject, messages } = bed.client.inbox<ErrorReply>();
      await bed.client.trigger(`${prefix}.trigger.calculator`, { input: DIVIDE, threadId: 'a'.repeat(length), replyTo: subject }, { msgId: `m-${uniqueToken()}` });
      const [refused] = await messages.until(1, 15_000, `the refusal of a ${length}-character id`);
      expect(refused!.issues).toEqual([expect.stringMatching(RULE)]);
    }
    // (A subject past the server's 4 KiB control line closes the client's connection: not tried.)
    for (const length of [129, 2049]) {
      const reply = await bed.client.request<ThreadReply>(`${prefix}.thread.${'a'.repeat(length)}.get`, '');
      expect(reply).toMatchObject({ ok: false, code: 'bad_request', error: expect.stringMatching(RULE) });
    }
  });
});

describe('thread ids on the embedded file store', () => {
  it('the longest round-trip (launch, get, list, respond) and longer ones are refused, naming the limit', async () => {
    const runtime = createRuntime({ agents: [calculator], store: await createFileStore({ dir: join(root, 'store'), fsync: false }), model: createDemoModel() });
    try {
      for (const id of LONGEST) {
        await runtime.launch('calculator', DIVIDE, { threadId: id });
        const waiting = await runtime.settled(id);
        expect(waiting).toMatchObject({ id, status: 'awaiting_human' });
        expect(await runtime.get(id)).toMatchObject({ id, status: 'awaiting_human' });
        expect((await runtime.list({ agent: 'calculator', limit: 100 })).map((s) => s.id)).toContain(id);
        await runtime.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: true });
        expect(await runtime.settled(id)).toMatchObject({ status: 'done', output: '(3 + 4) / 2 = 3.5' });
      }
      for (const length of TOO_LONG) {
        const refused = await runtime.launch('calculator', DIVIDE, { threadId: 'a'.repeat(length) }).catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(InvalidInputError);
        expect((refused as Error).message).toMatch(RULE);
      }
    } finally {
      await runtime.close();
    }
  });
});
