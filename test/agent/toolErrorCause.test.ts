import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { eventsOf, runToEnd, startRun } from '../support/agentHarness.js';
import { REFUSED_PORT } from '../support/refusedPort.js';

/** A port on 127.0.0.1 that refuses connections (see {@link REFUSED_PORT}). */
async function closedPort(): Promise<number> {
  return REFUSED_PORT;
}

/** The message of the tool error recorded when tool `weird` fails by running `run`. */
async function toolErrorOf(run: () => Promise<unknown>, secrets: string[] = []): Promise<{ message: string; text: string }> {
  const weird = tool({ name: 'weird', description: 'fails oddly', input: z.object({}), idempotent: true, run: async () => { await run(); return 'never'; } });
  const a = agent({ name: 'weirdo', description: 'calls weird', prompt: 'You are {{agent}}.\n{{tools}}', tools: [weird], secrets });
  const model = scriptedModel([{ intent: 'weird', args: {} }, { intent: 'done_for_now', args: { message: 'ok' } }]);
  const { actor, clock } = await startRun({ agent: a, model });
  const end = await runToEnd(actor, clock);
  expect(end.status).toBe('done');
  const errors = eventsOf(end.thread, 'error');
  expect(errors).toHaveLength(1);
  expect(errors[0]!.data).toMatchObject({ kind: 'tool_error', tool: 'weird' });
  return { message: errors[0]!.data.message, text: JSON.stringify(end.thread) };
}

describe('a tool error records what caused it', () => {
  it("a fetch that cannot connect: the message, then its cause's (connect ECONNREFUSED and the address)", async () => {
    const port = await closedPort();
    const { message } = await toolErrorOf(() => fetch(`http://127.0.0.1:${port}/inventory`).then((r) => r.text()));
    expect(message).toBe(`weird failed: fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it("an AggregateError without a message (net.connect's when every address fails): its name and each inner error's message", async () => {
    const { message } = await toolErrorOf(async () => {
      throw new AggregateError([new Error('connect ECONNREFUSED 10.0.0.5:5432'), new Error('connect ECONNREFUSED 10.0.0.6:5432')], '');
    });
    expect(message).toBe('weird failed: AggregateError [connect ECONNREFUSED 10.0.0.5:5432; connect ECONNREFUSED 10.0.0.6:5432]');
  });

  it("an error's code is named when its message does not say it; a fetch whose cause is an AggregateError shows the inner errors", async () => {
    const inner = Object.assign(new AggregateError([new Error('connect ECONNREFUSED ::1:80'), new Error('connect ECONNREFUSED 127.0.0.1:80')], ''), { code: 'ECONNREFUSED' });
    const { message } = await toolErrorOf(async () => {
      throw new TypeError('fetch failed', { cause: inner });
    });
    expect(message).toBe('weird failed: fetch failed: AggregateError (ECONNREFUSED) [connect ECONNREFUSED ::1:80; connect ECONNREFUSED 127.0.0.1:80]');
  });

  it('a long cause chain is cut after a few levels; a cause that repeats what was said, or loops back, is not said again', async () => {
    let chained: Error = new Error('level 9');
    for (let level = 8; level >= 0; level--) chained = new Error(`level ${level}`, { cause: chained });
    const long = await toolErrorOf(async () => {
      throw chained;
    });
    expect(long.message.startsWith('weird failed: level 0: level 1: level 2')).toBe(true);
    expect(long.message).not.toContain('level 9');

    const wrapped = await toolErrorOf(async () => {
      const cause = new Error('connect ETIMEDOUT 10.1.1.1:443');
      throw new Error(`inventory lookup failed: ${cause.message}`, { cause });
    });
    expect(wrapped.message).toBe('weird failed: inventory lookup failed: connect ETIMEDOUT 10.1.1.1:443');

    const looped = await toolErrorOf(async () => {
      const a = new Error('ring a');
      const b = new Error('ring b', { cause: a });
      (a as { cause?: unknown }).cause = b;
      throw a;
    });
    expect(looped.message).toBe('weird failed: ring a: ring b');
  });

  it('a cause is size-capped as a message is, a long message leaves room for its cause, and secrets in a cause are redacted', async () => {
    const huge = await toolErrorOf(async () => {
      throw new Error('fetch failed', { cause: new Error(`x${'y'.repeat(5000)}`) });
    });
    expect(huge.message.startsWith('weird failed: fetch failed: xyyy')).toBe(true);
    expect(huge.message.length).toBeLessThanOrEqual(501);

    const wordy = await toolErrorOf(async () => {
      throw new Error(`the inventory service ${'said many things '.repeat(60)}`, { cause: new Error('connect ECONNREFUSED 10.0.0.7:8080') });
    });
    expect(wordy.message).toContain('connect ECONNREFUSED 10.0.0.7:8080');
    expect(wordy.message.length).toBeLessThanOrEqual(501);

    const secret = await toolErrorOf(async () => {
      throw new Error('fetch failed', { cause: new Error('401 for token tok-SUPERSECRET-999') });
    }, ['tok-SUPERSECRET-999']);
    expect(secret.message).toBe('weird failed: fetch failed: 401 for token [REDACTED]');
    expect(secret.text).not.toContain('SUPERSECRET');
  });
  it('a thrown value or cause JSON cannot hold (circular, a BigInt) is described, never thrown again: the failure is recorded', async () => {
    const circular: Record<string, unknown> = { status: 503 };
    circular.self = circular;
    expect((await toolErrorOf(() => Promise.reject(new Error('request failed', { cause: circular })))).message).toMatch(/^weird failed: request failed: /);
    expect((await toolErrorOf(() => Promise.reject(circular))).message).toMatch(/^weird failed: /);
    expect((await toolErrorOf(() => Promise.reject({ id: 10n }))).message).toMatch(/^weird failed: /);
  });

  it('a secret across the cut of a long message or cause is redacted whole, never left in part', async () => {
    const secret = 'db-pass-ZQ81x7Lm';
    // The secret starts just before where a part of a message with a cause is cut (200 characters).
    const cause = new Error(`${'x'.repeat(190)} auth ${secret} rejected`);
    const { message, text } = await toolErrorOf(() => Promise.reject(new Error('connect failed', { cause })), [secret]);
    // Not even its start: "db-p…" was left when the cut came before the redaction.
    expect(text).not.toContain('db-p');
    expect(message).toContain('connect failed: ');
  });

  it('a tool that throws null or undefined says so, not an empty message (qa26-embed D8)', async () => {
    expect((await toolErrorOf(async () => Promise.reject(null))).message).toBe('weird failed: null');
    expect((await toolErrorOf(async () => Promise.reject(undefined))).message).toBe('weird failed: undefined');
  });
});
