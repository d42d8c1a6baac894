/**
 * A thread cancelled while its tool call ran in another process, whose outcome never came (that
 * process died): the event stream and `switchyard watch` stop waiting for it once the call could
 * no longer be running, and say that its outcome is not recorded. One whose outcome comes after
 * the cancel (that process is still at it): `GET /threads/:id/wait` returns with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { runCli, type CliIO } from '../../src/cli/program.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { systemClock } from '../../src/clock.js';
import { appendEvents } from '../../src/store/appendEvents.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { NewEvent, Thread } from '../../src/thread/events.js';
import { deferred, type Deferred } from '../bus/waiting.js';
import { threadOf } from '../support/agentHarness.js';
import { heldPublishTool, publishCallStarted, publisherModel } from '../support/heldTool.js';
import { openSse } from './harness.js';

const ID = 'th-gone';
const events: NewEvent[] = [...publishCallStarted(ID), { type: 'control', data: { action: 'cancel', by: 'qa' } }];

const RUNNING_ID = 'th-running';

let runtime: Runtime;
let http: HttpServer;
let store: ThreadStore;
let running: Thread;
/** Resolved when the server asks the runtime to wait for a thread to settle. */
let waitAsked: Deferred<void> = deferred();

beforeAll(async () => {
  store = createMemoryStore();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [heldPublishTool().publish] });
  runtime = createRuntime({ agents: [publisher], store, model: publisherModel().model });
  // Written long ago (the call started then, 30 s of timeout far behind), as by processes gone since.
  await store.create(threadOf(ID, 'publisher', events, Date.parse('2025-01-01T00:00:00.000Z')));
  // Written now: its call may still be running in the process that started it.
  running = await store.create(threadOf(RUNNING_ID, 'publisher', events, Date.now()));
  const told: Runtime = {
    ...runtime,
    settled: (threadId, options) => {
      const settling = runtime.settled(threadId, options);
      waitAsked.resolve();
      return settling;
    },
  };
  http = await startHttpServer(told, { port: 0, token: '' });
});

afterAll(async () => {
  await http?.close();
  await runtime?.close();
});

/** What `switchyard <args>` prints, line by line (stderr's lines marked). */
async function cli(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const io: CliIO = {
    stdout: (text) => lines.push(...text.split('\n').filter((l) => l !== '')),
    stderr: (text) => lines.push(`stderr: ${text}`),
    env: {},
    stopped: () => new Promise<string>(() => undefined),
  };
  await runCli(['node', 'switchyard', ...args], io);
  return lines;
}

describe('a call whose outcome a cancelled thread never recorded', () => {
  it('the event stream sends the stored events, then ends saying which call is unrecorded; after that, 204', async () => {
    const sse = await openSse(`${http.url}/threads/${ID}/events`);
    const frames = (await sse.until((f) => f.event === 'end')).filter((f) => f.event !== undefined);

    expect(frames.map((f) => f.event)).toEqual(['input', 'decision', 'tool_call', 'control', 'end']);
    expect(JSON.parse(frames.at(-1)!.data!)).toEqual({ status: 'cancelled', unrecordedCall: { callId: 'c1', tool: 'publish' } });
    expect((await fetch(`${http.url}/threads/${ID}/events?after=4`)).status).toBe(204);
  });

  // Long past the tool's timeout (30 s) + 10 s: nothing will record it, so no "yet", no "later" (QA21 durability F6).
  const never = `? publish (call c1) was running when the thread was cancelled and its outcome was never recorded (the process running it stopped, or the call outlived its timeout): check whether it took effect (idempotency key ${ID}:c1)`;

  it('switchyard watch ends with the cancel and says the outcome of the call was never recorded', async () => {
    const lines = await cli('watch', ID, '--url', http.url);

    expect(lines.slice(-3).map((line) => line.trim())).toEqual(['■ cancelled by qa', `thread ${ID} is cancelled`, never]);
  });

  it('switchyard show says it too, with the line watch prints', async () => {
    const lines = await cli('show', ID, '--url', http.url);

    expect(lines.map((line) => line.trim())).toContain(never);
    expect(lines.join('\n')).not.toContain('not recorded yet');
  });

  it('switchyard delete deletes it, warning that the only record of a call that may have taken effect went with it', async () => {
    const id = 'th-gone-del';
    await store.create(threadOf(id, 'publisher', [...publishCallStarted(id), { type: 'control', data: { action: 'cancel', by: 'qa' } }], Date.parse('2025-01-01T00:00:00.000Z')));

    const lines = await cli('delete', id, '--url', http.url);

    expect(lines).toEqual([
      `deleted ${id}`,
      `stderr: warning: ${id} was cancelled while publish (call c1) ran, and that call's outcome was never recorded: it may have taken effect; check with its idempotency key ${id}:c1 (the deletion removed the thread's record of it)\n`,
    ]);
    expect(await store.get(id)).toBeUndefined();
  });
});

describe('GET /threads/:id/wait of a thread cancelled while its call ran in another process', () => {
  it('returns once that process records the outcome of the call, with it', async () => {
    waitAsked = deferred();
    const waiting = fetch(`${http.url}/threads/${RUNNING_ID}/wait?timeoutMs=20000`);
    await waitAsked.promise;

    // The worker records the call's result after the cancel; this server reads it back.
    await appendEvents({ store, clock: systemClock }, running, [{ type: 'tool_result', data: { callId: 'c1', tool: 'publish', result: 'published', durationMs: 5 } }]);
    await runtime.ingest(RUNNING_ID);

    const response = await waiting;
    expect(response.status).toBe(200);
    const view = (await response.json()) as Thread & { status: string; version: number };
    expect(view).toMatchObject({ status: 'cancelled', version: 5 });
    expect(view.events.at(-1)).toMatchObject({ type: 'tool_result', data: { callId: 'c1', result: 'published' } });
  });

  it('returns the cancelled thread at once when the wait for the outcome ran out', async () => {
    const response = await fetch(`${http.url}/threads/${ID}/wait?timeoutMs=20000`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'cancelled', version: 4 });
  });
});
