import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import type { Model } from '../../src/model/model.js';
import { createOpenAIModel } from '../../src/model/openaiModel.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { eventsOf, flush, settle, startRun, until } from '../support/agentHarness.js';

// How long a decision waits for the model: the agent's decideTimeoutMs when set, else a default
// that leaves a model's own timeout room to fire first.

const done = { intent: 'done_for_now', args: { message: 'ok' } };
const base = { name: 'slow', description: 'waits on a slow model', prompt: 'You are {{agent}}.\n{{tools}}', tools: [] };

/** A model that hangs on its first request, and says its own timeout when `timeoutMs` is given. */
function hangingModel(timeoutMs?: number) {
  const model = scriptedModel([{ hang: true }, done]);
  return { model: timeoutMs === undefined ? model : (Object.assign(model, { timeoutMs }) as Model & typeof model), requests: model.requests };
}

/** Starts a run on a hanging model; returns when its first request is out. */
async function hangingRun(decideTimeoutMs: number | undefined, modelTimeoutMs: number | undefined) {
  const { model, requests } = hangingModel(modelTimeoutMs);
  const definition = agent({ ...base, ...(decideTimeoutMs === undefined ? {} : { decideTimeoutMs }) });
  const { actor, clock } = await startRun({ agent: definition, model });
  const rest = settle(actor);
  await until(() => requests.length === 1);
  const signal = requests[0]!.signal;
  /** Moves the clock by `ms` and lets the step react. */
  const advance = async (ms: number) => {
    clock.increment(ms);
    await flush();
  };
  return { signal, advance, rest };
}

describe('the deadline of a decision', () => {
  it('is the model\'s own timeout plus a margin when the model says one (90 s): not cut at 60 s', async () => {
    const { signal, advance, rest } = await hangingRun(undefined, 90_000);
    await advance(60_000);
    expect(signal.aborted).toBe(false);
    await advance(30_000);
    expect(signal.aborted).toBe(false);
    await advance(5_000);
    expect(signal.aborted).toBe(true);
    const [error] = eventsOf((await rest).thread, 'error');
    expect(error!.data.kind).toBe('model_timeout');
    expect(error!.data.message).toBe('the model did not answer within 95000 ms (decideTimeoutMs of agent slow: by default the model\'s timeoutMs, 90000, plus 5000 ms)');
  });

  it('stays 60 s for a model that says no timeout, and its message names decideTimeoutMs', async () => {
    const { signal, advance, rest } = await hangingRun(undefined, undefined);
    await advance(59_999);
    expect(signal.aborted).toBe(false);
    await advance(1);
    expect(signal.aborted).toBe(true);
    const [error] = eventsOf((await rest).thread, 'error');
    expect(error!.data.message).toBe('the model did not answer within 60000 ms (decideTimeoutMs of agent slow, 60000 by default)');
  });

  it('is an explicit decideTimeoutMs whatever the model\'s timeout', async () => {
    const { signal, advance, rest } = await hangingRun(2_000, 90_000);
    await advance(2_000);
    expect(signal.aborted).toBe(true);
    const [error] = eventsOf((await rest).thread, 'error');
    expect(error!.data.message).toBe('the model did not answer within 2000 ms (decideTimeoutMs of agent slow)');
  });

  it('ignores a timeout the model says that is no number of milliseconds', async () => {
    const { signal, advance } = await hangingRun(undefined, Number.NaN);
    await advance(60_000);
    expect(signal.aborted).toBe(true);
  });

  it('ends a decision whose model ignores the abort signal: a model of the user\'s that never answers (seen hanging for good, no error, its slot held)', async () => {
    const requests: unknown[] = [];
    const answers = scriptedModel([done]);
    const model: Model = {
      name: 'deaf',
      complete: (request) => {
        requests.push(request);
        return requests.length === 1 ? new Promise(() => undefined) : answers.complete(request);
      },
    };
    const { actor, clock } = await startRun({ agent: agent({ ...base, decideTimeoutMs: 2_000 }), model });
    const rest = settle(actor);
    await until(() => requests.length === 1);
    clock.increment(2_000);
    await flush();
    // Its retry, after the backoff.
    for (let i = 0; i < 30 && requests.length < 2; i++) {
      clock.increment(1_000);
      await flush();
    }
    expect(requests).toHaveLength(2);
    const { thread } = await rest;
    const [error] = eventsOf(thread, 'error');
    expect(error!.data.message).toBe('the model did not answer within 2000 ms (decideTimeoutMs of agent slow)');
  });

  it('names the endpoint of a model that honours the signal (createOpenAIModel): its own failure comes before the deadline gives up on it', async () => {
    let connections = 0;
    const hanging = createServer(() => undefined).on('connection', () => connections++);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const { port } = hanging.address() as AddressInfo;
    try {
      const model = createOpenAIModel({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-test-key-123456', timeoutMs: 30_000 });
      const { actor, clock } = await startRun({ agent: agent({ ...base, decideTimeoutMs: 2_000 }), model });
      const rest = settle(actor);
      // The request is out once the server holds its connection.
      for (let i = 0; i < 500 && connections === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      clock.increment(2_000);
      const [error] = eventsOf((await rest).thread, 'error');
      expect(error!.data.message).toBe(`the model did not answer within 2000 ms (decideTimeoutMs of agent slow) at http://127.0.0.1:${port}/v1/chat/completions`);
      actor.stop();
    } finally {
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });
});
