/**
 * `switchyard show` of a running thread whose tool call another process started (a worker on
 * NATS), its outcome not recorded yet: the call is named, from the thread's log as the server
 * sends it, with when it started and until when its outcome is due; once that is past (its worker
 * died), that it outlived its timeout (QA21 durability F4).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { threadOf } from '../support/agentHarness.js';
import { heldPublishTool, publishCallStarted, publisherModel } from '../support/heldTool.js';
import { runCliHere } from '../support/inProcessCli.js';

const FRESH = 'fly-1';
const STALE = 'fly-2';
/** The tool's timeout: its outcome is due 10 s after it (the grace a follower of a cancel gives it too). */
const TIMEOUT_MS = 60_000;
const LONG_AGO = Date.parse('2025-01-01T00:00:00.000Z');
let freshAt: number;

let runtime: Runtime;
let http: HttpServer;

/** The local date and time the CLI prints, as it prints them. */
function local(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${d.toTimeString().slice(0, 8)}`;
}

/** A due time as show prints it: its time alone on the local day of the call's start, else with its date. */
function dueTime(due: number, start: number): string {
  return local(due).slice(0, 10) === local(start).slice(0, 10) ? local(due).slice(11) : local(due);
}

beforeAll(async () => {
  const store = createMemoryStore();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [heldPublishTool({ timeoutMs: TIMEOUT_MS }).publish] });
  runtime = createRuntime({ agents: [publisher], store, model: publisherModel().model });
  // Journaled by other processes, which run (or ran) the call: this server's runtime runs neither.
  freshAt = Date.now();
  await store.create(threadOf(FRESH, 'publisher', publishCallStarted(FRESH), freshAt));
  await store.create(threadOf(STALE, 'publisher', publishCallStarted(STALE), LONG_AGO));
  http = await startHttpServer(runtime, { port: 0, token: '' });
});

afterAll(async () => {
  await http?.close();
  await runtime?.close();
});

describe('switchyard show of a thread whose tool call runs in another process', () => {
  it('names the call in flight: tool, call id, start, attempt, idempotency key, and until when its outcome is due', async () => {
    const { code, stdout } = await runCliHere(['show', FRESH, '--url', http.url]);

    expect(code).toBe(0);
    expect(stdout).toContain('status   running');
    expect(stdout.split('\n')).toContain(
      `call     publish (c1) started ${local(freshAt)} (attempt 1), idempotency key ${FRESH}:c1: running, its outcome due by ${dueTime(freshAt + TIMEOUT_MS + 10_000, freshAt)}`,
    );
  });

  it('says, past its timeout window, that the call outlived it', async () => {
    const { stdout } = await runCliHere(['show', STALE, '--url', http.url]);

    expect(stdout.split('\n')).toContain(
      `call     publish (c1) started ${local(LONG_AGO)} (attempt 1), idempotency key ${STALE}:c1: no outcome by ${dueTime(LONG_AGO + TIMEOUT_MS + 10_000, LONG_AGO)}, past its timeout: the process running it may have stopped (its job is delivered again after the queue's ack wait, or the server takes the thread over when it restarts)`,
    );
  });

  it('GET /threads/:id carries until when the outcome is due (callDueBy), read from the log and the tool of the agent', async () => {
    const view = (await (await fetch(`${http.url}/threads/${STALE}`)).json()) as { callDueBy?: string };
    expect(view.callDueBy).toBe(new Date(LONG_AGO + TIMEOUT_MS + 10_000).toISOString());
  });
});
