/**
 * What `pause` and `cancel` say at once (on stderr) when the server will wait for a call the
 * thread runs before it answers: the running tool call (its tool, call id and start), or, for a
 * pause, the model call in flight. Nothing when no call of it runs in the server's own actors.
 */
import { describe, expect, it } from 'vitest';
import { waitedCallLine } from '../../src/cli/format.js';
import { viewOf, type ThreadView } from '../../src/runtime/threadView.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { agent } from '../../src/agent/agent.js';
import { runCli } from '../../src/cli/program.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { deferred, within } from '../bus/waiting.js';
import { heldPublishTool, publishCallStarted, publisherModel, publisherPipeline } from '../support/heldTool.js';

const AT = '2026-01-01T12:30:12.000Z';
const stamped = (events: readonly object[]): ThreadEvent[] => events.map((e, i) => ({ ...e, seq: i + 1, at: AT })) as ThreadEvent[];
const clock = new Date(AT).toTimeString().slice(0, 8);

/** `switchyard cancel <threadId>` in this process: its first stderr output, its exit code, and all it printed on stderr so far. */
function cancelByCli(url: string, threadId: string): { printed: Promise<string>; exited: Promise<number>; stderr: () => string } {
  let stderr = '';
  const printed = deferred<string>();
  const exited = runCli(['node', 'switchyard', '--url', url, 'cancel', threadId, '--by', 'oncall'], {
    stdout: () => undefined,
    stderr: (text) => {
      stderr += text;
      printed.resolve(stderr);
    },
    env: {},
    stopped: () => new Promise(() => undefined),
  });
  return { printed: printed.promise, exited, stderr: () => stderr };
}

describe('the line pause and cancel print before they wait', () => {
  it('names the running tool call, its id and when it started, for a cancel and a pause, when the server runs it', () => {
    const view: ThreadView = { ...viewOf({ id: 't1', agent: 'publisher', events: stamped(publishCallStarted('t1')) }), live: true };
    expect(waitedCallLine(view, 'cancel')).toBe(`waiting for the running call publish (c1, started ${clock}) to finish before cancelling`);
    expect(waitedCallLine(view, 'pause')).toBe(`waiting for the running call publish (c1, started ${clock}) to finish before pausing`);
  });

  it('says a pause waits for the model call in flight (a decision being made), and a cancel does not', () => {
    const view: ThreadView = { ...viewOf({ id: 't1', agent: 'publisher', events: stamped([{ type: 'input', data: { input: 'go' } }]) }), live: true };
    expect(waitedCallLine(view, 'pause')).toBe('waiting for the model call in flight to finish before pausing');
    expect(waitedCallLine(view, 'cancel')).toBeUndefined();
  });

  it('says nothing when no actor of the server runs the thread (another process runs the call: nothing is waited for)', () => {
    const view = viewOf({ id: 't1', agent: 'publisher', events: stamped(publishCallStarted('t1')) });
    expect(waitedCallLine(view, 'cancel')).toBeUndefined();
  });
});

describe('switchyard cancel of a thread whose tool call runs in the server', () => {
  it('prints on stderr, before the server answers, which call it waits for', async () => {
    const tools = heldPublishTool();
    const { model } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const runtime = createRuntime({ agents: [publisher], store: createMemoryStore(), model });
    const server = await startHttpServer(runtime, { host: '127.0.0.1', port: 0, token: '' });
    try {
      const { id } = await runtime.launch('publisher', 'publish hello');
      await tools.started.promise;
      const { printed, exited, stderr } = cancelByCli(server.url, id);
      // Printed while the call still runs (the cancel waits for it).
      expect(await within(printed, 5_000, 'a line on stderr while the call runs')).toMatch(/^waiting for the running call publish \(c\w+, started \d\d:\d\d:\d\d\) to finish before cancelling\n$/);
      // Once the cancel reached the call (its signal aborts), the tool ends; the cancel is recorded after it.
      const signal = await tools.started.promise;
      await within(new Promise((resolve) => (signal.aborted ? resolve(undefined) : signal.addEventListener('abort', resolve, { once: true }))), 5_000, 'the cancel to abort the call');
      tools.release.resolve('published');
      expect({ code: await exited, stderr: stderr() }).toEqual({ code: 0, stderr: expect.stringMatching(/^waiting[^\n]*\n$/) });
      expect((await runtime.get(id))!.status).toBe('cancelled');
    } finally {
      tools.release.resolve('published');
      await server.close();
      await runtime.close();
    }
  });
});

describe('switchyard cancel of a pipeline whose child runs a tool call in the server', () => {
  it("prints on stderr which call of which child its cancel tells to stop, without waiting for it (QA24 pipelines #3; qa26: the cancel answers promptly)", async () => {
    const tools = heldPublishTool();
    const { model } = publisherModel();
    const { publisher, posts } = publisherPipeline(tools.publish);
    const runtime = createRuntime({ agents: [publisher], pipelines: [posts], store: createMemoryStore(), model });
    const server = await startHttpServer(runtime, { host: '127.0.0.1', port: 0, token: '' });
    try {
      await runtime.launch('posts', 'publish hello', { threadId: 'pp' });
      await tools.started.promise;
      const { printed, exited, stderr } = cancelByCli(server.url, 'pp');
      // Printed while the child's call still runs (the cancel of the pipeline cancels the child without waiting for its call).
      const line = within(printed, 5_000, 'a line on stderr while the call runs');
      const signal = await tools.started.promise;
      await within(new Promise((resolve) => (signal.aborted ? resolve(undefined) : signal.addEventListener('abort', resolve, { once: true }))), 5_000, 'the cancel to abort the call');
      tools.release.resolve('published');
      expect(await line).toMatch(/^the running call publish \(c\w+, started \d\d:\d\d:\d\d\) of publisher thread pp--pub is told to stop; its outcome is recorded after the cancel\n$/);
      expect({ code: await exited, stderr: stderr() }).toEqual({ code: 0, stderr: expect.stringMatching(/^the running call[^\n]*\n$/) });
      expect((await runtime.get('pp'))!.status).toBe('cancelled');
    } finally {
      tools.release.resolve('published');
      await server.close();
      await runtime.close();
    }
  });
});
