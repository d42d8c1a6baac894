/**
 * A NATS worker that stops while a trigger's thread was never created hands the trigger back as a
 * copy: its payload with the thread id added, and headers of its own (the original trigger's id,
 * the copy's msg id). The NATS server refuses a message larger than its `max_payload` (payload and
 * headers together), so with `maxPayloadBytes` at the server's limit a trigger that fits can have
 * a copy that does not (its payload and headers grow). Such a trigger is handed back as itself (nak'ed: it comes back), never
 * lost; and a worker is refused at start-up a `maxPayloadBytes` the server would refuse anyway.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { encodePayload, messageBytes } from '../../src/bus/busMessage.js';
import { MSG_ID_HEADER } from '../../src/bus/jobRunner.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import type { NatsNode } from '../../src/nats/natsNode.js';
import { ConfigError } from '../../src/errors.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { heldPublishTool } from '../support/heldTool.js';
import type { LogLine } from '../support/capturingLogger.js';
import { deferred, doneOn, failingCreates, eventually, plainClient, startNode, uniqueToken, type PlainClient } from './natsTestKit.js';

/** The server's max_payload: small, so a trigger at the limit is small too. */
const SERVER_MAX = 8 * 1024;
let server: NatsServerHandle;
let client: PlainClient;
const nodes: NatsNode[] = [];

beforeAll(async () => {
  server = await startNatsServer({ maxPayload: SERVER_MAX });
  client = await plainClient(server.url);
});

afterAll(async () => {
  await client?.close();
  await Promise.all(nodes.map((node) => node.close({ drainMs: 1_000 })));
  await server?.stop();
});

const publishThenDone = () =>
  scriptedModel([], {
    whenExhausted: (request: ModelRequest): ScriptedReply =>
      request.context.includes('<tool_result') ? { intent: 'done_for_now', args: { message: 'published it' } } : { intent: 'publish', args: { post: 'hello' } },
  });

/** A pino logger writing parsed lines into `lines`, resolving `handingBack` once the worker hands its jobs back. */
function watchedLogger() {
  const lines: LogLine[] = [];
  const handingBack = deferred();
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
        if (chunk.toString().includes('handing the running jobs back to the queue')) handingBack.resolve();
        done();
      },
    }),
  );
  return { logger, lines, handingBack: handingBack.promise };
}

describe('a NATS worker closed while it launches a trigger whose copy would exceed the server\'s max_payload', () => {
  it('hands the trigger back as itself (nak\'ed, not lost, not dead-lettered): the next worker launches it', async () => {
    const own = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const { publish, release } = heldPublishTool();
    release.resolve('published');
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    const common = { agents: [publisher], ...own, observe: false, maxPayloadBytes: SERVER_MAX, queue: { ackWaitMs: 600_000, retryDelayMs: 200 } };
    const a = watchedLogger();
    const workerA = await startNode(server.url, { ...common, model: publishThenDone(), processId: 'worker-a', logger: a.logger });
    // A's store cannot create the thread: the create waits until A hands its jobs back, then fails.
    const { creating, fail: failCreate } = failingCreates(workerA);
    const acks = client.watch<string>('$JS.ACK.>');
    // The trigger and its headers fit the server, 40 bytes to spare; its copy adds
    // `,"threadId":"trg-big"` (21 bytes) and the original's id and its own msg id as headers, and
    // does not. (A trace header makes up most of it: a thread of an 8 KiB input would not fit the
    // server's KV either.)
    const input = 'x'.repeat(3_000);
    const trace = 't'.repeat(SERVER_MAX - 40 - messageBytes(encodePayload({ input }), { [MSG_ID_HEADER]: 'big', 'X-Trace': '' }));
    expect(messageBytes(encodePayload({ input }), { [MSG_ID_HEADER]: 'big', 'X-Trace': trace })).toBe(SERVER_MAX - 40);
    await client.trigger(`${own.prefix}.trigger.publisher`, { input }, { msgId: 'big', headers: { 'X-Trace': trace } });
    await creating;

    const closing = workerA.close({ drainMs: 60_000 });
    await a.handingBack;
    failCreate();
    await closing;
    // The original was nak'ed (it comes back with a delivery of its own), not acknowledged.
    await eventually(async () => (acks.items.some((ack) => String(ack.data).startsWith('-NAK')) ? true : undefined), 5_000, 'the original trigger to be nak\'ed');
    expect(acks.items.map((ack) => String(ack.data)).filter((data) => data.startsWith('+ACK'))).toEqual([]);
    expect(a.lines.filter((line) => (line.level ?? 0) >= 50)).toEqual([]);
    expect(a.lines).toContainEqual(expect.objectContaining({ level: 40, threadId: 'trg-big', agent: 'publisher', msg: expect.stringMatching(/handed back as itself/) }));

    const workerB = await startNode(server.url, { ...common, model: publishThenDone(), processId: 'worker-b' });
    nodes.push(workerB);
    const done = await doneOn(workerB, 'trg-big', 20_000, 'worker B to run the trigger handed back');
    expect(done.events[0]).toMatchObject({ data: { input, source: { kind: 'nats', triggerId: 'big' } } });
    expect(await (await workerB.bus.jobQueue(`${own.prefix}_publisher`)).deadLetters()).toEqual([]);
  });
});

describe('a NATS worker whose maxPayloadBytes exceeds the server\'s max_payload', () => {
  it('is refused at start-up with a ConfigError naming both limits', async () => {
    const own = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [heldPublishTool().publish] });
    const started = await startNode(server.url, { agents: [publisher], ...own, observe: false, model: publishThenDone(), maxPayloadBytes: SERVER_MAX + 1 }).then(
      (node) => {
        nodes.push(node);
        return 'started';
      },
      (error: unknown) => error,
    );
    expect(started).toBeInstanceOf(ConfigError);
    expect(String(started)).toMatch(new RegExp(`maxPayloadBytes \\(${SERVER_MAX + 1}\\).*max_payload \\(${SERVER_MAX}\\)`));
  });

  it('left at its default (256 KiB), is not refused: the server\'s smaller max_payload is its limit', async () => {
    const own = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [heldPublishTool().publish] });
    const node = await startNode(server.url, { agents: [publisher], ...own, observe: false, model: publishThenDone() });
    nodes.push(node);
    expect(node.runtime.agents.has('publisher')).toBe(true);
  });
});
