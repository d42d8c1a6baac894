import { DiscardPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { REPLY_TO_HEADER } from '../../src/surface/subjects.js';
import { delay } from '../bus/waiting.js';
import { eventually, uniqueToken, useNatsTestBed } from './natsTestKit.js';

// What a worker reports (a result, an error reply, a human request) to a subject that a client's
// stream captures is stored there before the job is acknowledged. A plain publish can be dropped
// by the server after the job's ack (sent after it) has landed: across a restart (the chaos run
// lost a final result that way), or when the stream refuses it. A stream that is full at first,
// then emptied, stands in for both: its refusal is what a plain publish never hears.

const bed = useNatsTestBed();
const WAIT_MS = 15_000;

/** A stream on `<base>.>` that refuses every message until `open()` (full, discarding new ones). */
async function refusingStream(base: string) {
  const jsm = await jetstreamManager(bed.client.nc);
  const name = `reports_${uniqueToken()}`;
  await jsm.streams.add({ name, subjects: [`${base}.>`], storage: StorageType.File, max_msgs: 1, discard: DiscardPolicy.New });
  await bed.client.js.publish(`${base}.filler`, 'filler');
  return {
    /** A reply subject it captures. */
    subject: `${base}.reply`,
    async open() {
      await jsm.streams.purge(name);
    },
    /** The JSON messages stored (none while it refuses). */
    async stored(): Promise<Record<string, unknown>[]> {
      const { state } = await jsm.streams.info(name);
      const out: Record<string, unknown>[] = [];
      for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
        const msg = await jsm.streams.getMessage(name, { seq }).catch(() => null);
        if (msg) out.push(msg.json<Record<string, unknown>>());
      }
      return out;
    },
    /** The msg ids the messages stored carry. */
    async storedIds(): Promise<(string | undefined)[]> {
      const { state } = await jsm.streams.info(name);
      const out: (string | undefined)[] = [];
      for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
        const msg = await jsm.streams.getMessage(name, { seq }).catch(() => null);
        if (msg) out.push(msg.header?.get('Nats-Msg-Id'));
      }
      return out;
    },
  };
}

async function worker(prefix: string) {
  return bed.node({ agents: [calculator], model: createDemoModel(), prefix, bucket: `threads_${uniqueToken()}`, queue: { ackWaitMs: 5_000, retryDelayMs: 100, maxRetryDelayMs: 400, maxDeliver: 20 } });
}

describe('reports to a subject a stream captures', () => {
  it('stores the result before the ack: the job comes back until the stream takes it', async () => {
    const prefix = `sy${uniqueToken()}`;
    const results = await refusingStream(`res${uniqueToken()}`);
    const replyTo = results.subject;
    const node = await worker(prefix);
    await bed.client.trigger(`${prefix}.trigger.calculator`, { input: 'multiply 6 by 7', replyTo }, { msgId: 'r1' });
    await eventually(async () => ((await node.runtime.get('trg-r1'))?.status === 'done' ? true : undefined), WAIT_MS, 'the thread to end');
    await delay(300); // its first reports were refused
    await results.open();
    const stored = await eventually(async () => ((await results.stored()).length > 0 ? results.stored() : undefined), WAIT_MS, 'the stored result');
    expect(stored).toEqual([expect.objectContaining({ threadId: 'trg-r1', status: 'done', output: '6 * 7 = 42' })]);
    expect(await (await node.queues.queue('calculator')).deadLetters()).toEqual([]);
  });

  it('dead-letters the job, saying why, when the stream refuses the result on every delivery', async () => {
    const prefix = `sy${uniqueToken()}`;
    const results = await refusingStream(`res${uniqueToken()}`);
    const node = await bed.node({ agents: [calculator], model: createDemoModel(), prefix, bucket: `threads_${uniqueToken()}`, queue: { ackWaitMs: 5_000, retryDelayMs: 50, maxRetryDelayMs: 100, maxDeliver: 3 } });
    await bed.client.trigger(`${prefix}.trigger.calculator`, { input: 'multiply 2 by 5', replyTo: results.subject }, { msgId: 'r2' });
    const letters = await eventually(async () => {
      const found = await (await node.queues.queue('calculator')).deadLetters();
      return found.length > 0 ? found : undefined;
    }, WAIT_MS, 'the dead letter');
    expect(letters).toEqual([expect.objectContaining({ cause: 'max_deliver', reason: expect.stringMatching(/stored publish on res.*maximum messages/i) })]);
    expect((await node.runtime.get('trg-r2'))?.status).toBe('done');
  });

  it('stores a human request before the ack, once', async () => {
    const prefix = `sy${uniqueToken()}`;
    const humans = await refusingStream(`${prefix}.human`);
    const node = await worker(prefix);
    await bed.client.trigger(`${prefix}.trigger.calculator`, { input: 'what is (3 + 4) / 2' }, { msgId: 'h1' });
    await eventually(async () => ((await node.runtime.get('trg-h1'))?.status === 'awaiting_human' ? true : undefined), WAIT_MS, 'the approval');
    await delay(300);
    await humans.open();
    const stored = await eventually(async () => ((await humans.stored()).length > 0 ? humans.stored() : undefined), WAIT_MS, 'the stored request');
    await delay(500); // no second copy follows
    expect(await humans.stored()).toEqual(stored);
    expect(stored).toEqual([expect.objectContaining({ threadId: 'trg-h1', agent: 'calculator', kind: 'approval', tool: 'divide' })]);
  });

  it('stores the error reply to a trigger of an unknown agent before the publisher hears the refusal, once per msg id', async () => {
    const prefix = `sy${uniqueToken()}`;
    const base = `err${uniqueToken()}`;
    const jsm = await jetstreamManager(bed.client.nc);
    const name = `reports_${uniqueToken()}`;
    await jsm.streams.add({ name, subjects: [`${base}.>`], storage: StorageType.File });
    const ids: (string | undefined)[] = [];
    const stored = async (): Promise<unknown[]> => {
      const { state } = await jsm.streams.info(name);
      const out: unknown[] = [];
      ids.length = 0;
      for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
        const msg = await jsm.streams.getMessage(name, { seq });
        if (msg) {
          out.push(msg.json());
          ids.push(msg.header?.get('Nats-Msg-Id'));
        }
      }
      return out;
    };
    await worker(prefix);
    const replyTo = `${base}.reply`;
    const refusal = (agent: string, msgId: string) => bed.client.trigger(`${prefix}.trigger.${agent}`, { input: 1, replyTo }, { msgId }).catch((e: unknown) => String(e));
    expect(await refusal('nosuch', 'u1')).toMatch(/unknown agent "nosuch"/);
    // Stored by the time the refusal is heard (a plain publish follows the refusal).
    expect(await stored()).toEqual([{ error: 'unknown agent "nosuch" (known: calculator)', code: 'not_found', kind: 'not_found', threadId: 'trg-u1', agent: 'nosuch', msgId: 'u1' }]);
    // The client sends the same trigger again (the same msg id): its reply is stored once; another trigger gets its own.
    expect(await refusal('nosuch', 'u1')).toMatch(/unknown agent "nosuch"/);
    expect(await refusal('other', 'u2')).toMatch(/unknown agent "other"/);
    const replies = await eventually(async () => {
      const found = await stored();
      return found.some((reply) => (reply as { error?: string }).error?.includes('"other"')) ? found : undefined;
    }, WAIT_MS, 'the second error reply');
    expect(replies).toEqual([
      { error: 'unknown agent "nosuch" (known: calculator)', code: 'not_found', kind: 'not_found', threadId: 'trg-u1', agent: 'nosuch', msgId: 'u1' },
      { error: 'unknown agent "other" (known: calculator)', code: 'not_found', kind: 'not_found', threadId: 'trg-u2', agent: 'other', msgId: 'u2' },
    ]);
    // Stored under the trigger's identity: its subject and msg id (as a worker's refusal is).
    expect(ids).toEqual([`refused.${prefix}.trigger.nosuch.u1`, `refused.${prefix}.trigger.other.u2`]);
  });

  it('stores the error reply to a bad trigger before its dead letter', async () => {
    const prefix = `sy${uniqueToken()}`;
    const replies = await refusingStream(`err${uniqueToken()}`);
    const replyTo = replies.subject;
    const node = await worker(prefix);
    await bed.client.trigger(`${prefix}.trigger.calculator`, 'not json', { msgId: 'b1', headers: { [REPLY_TO_HEADER]: replyTo } });
    await delay(800);
    await replies.open();
    const stored = await eventually(async () => ((await replies.stored()).length > 0 ? replies.stored() : undefined), WAIT_MS, 'the stored error reply');
    expect(stored).toEqual([{ error: expect.stringMatching(/not JSON/), code: 'bad_request', kind: 'bad_request', threadId: 'trg-b1', agent: 'calculator', msgId: 'b1' }]);
    // Under the trigger's subject and msg id, as an unknown agent's refusal is (not its place in the queue).
    expect(await replies.storedIds()).toEqual([`refused.${prefix}.trigger.calculator.b1`]);
    const letters = await eventually(async () => {
      const found = await (await node.queues.queue('calculator')).deadLetters();
      return found.length > 0 ? found : undefined;
    }, WAIT_MS, 'the dead letter');
    expect(letters).toEqual([expect.objectContaining({ cause: 'term', reason: expect.stringMatching(/not JSON/) })]);
  });
});

