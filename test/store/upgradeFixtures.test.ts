/**
 * Threads written by earlier builds (test/fixtures/upgrade, see its README: the file store of a
 * `serve` killed mid-work) are continued by this one as after a restart: waiting threads still
 * wait and finish on an answer, a sleep long past wakes, an idempotent call cut off runs again with
 * the idempotency key its log recorded, a call that is not idempotent is asked about and not run,
 * and every recorded event stays as it was.
 */
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { intent } from '../../src/agent/customStep.js';
import { tool } from '../../src/agent/tool.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createFileStore } from '../../src/store/fileStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';

const FIXTURES = new URL('../fixtures/upgrade/', import.meta.url);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** The project that wrote the fixtures, with every tool run recorded as `<tool> <key> a<attempt>`. */
function project(runs: string[]) {
  const ran = (name: string) => (_: unknown, ctx: { idempotencyKey: string; attempt: number }) => {
    runs.push(`${name} ${ctx.idempotencyKey} a${ctx.attempt}`);
    return `${name} done`;
  };
  const order = z.object({ orderId: z.string() });
  const tools = [
    tool({ name: 'lookup_order', description: 'Look an order up', input: order, idempotent: true, run: ({ orderId }) => ({ orderId, total: 40 }) }),
    tool({ name: 'refund', description: 'Refund an amount', input: order.extend({ amount: z.number().positive() }), approval: true, run: ran('refund') }),
    tool({ name: 'charge', description: 'Charge a card', input: order.extend({ amount: z.number() }), run: ran('charge') }),
    tool({ name: 'ship', description: 'Ship', input: order, idempotent: true, run: ran('ship') }),
  ];
  const nap = intent({ name: 'nap', description: 'Wait a while', input: z.object({ seconds: z.number() }), run: ({ seconds }) => ({ output: { waited: seconds }, waitMs: seconds * 1000 }) });
  const support = agent({ name: 'support', description: 'refunds orders', prompt: 'You are {{agent}}.\n{{tools}}', tools, intents: [nap], maxSteps: 12 });
  // Whatever the thread shows, once past its wait: finish.
  const standIn = ({ context }: ModelRequest): ScriptedReply => ({ intent: 'done_for_now', args: { message: context.includes('approved="false"') || context.includes('took_effect="true"') ? 'denied' : 'finished' } });
  return { support, model: scriptedModel([], { whenExhausted: standIn }) };
}

/** The events a fixture file holds, in order. */
async function fixtureEvents(file: URL): Promise<ThreadEvent[]> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
  return lines.flatMap((line) => (JSON.parse(line) as { events: ThreadEvent[] }).events);
}

async function open(commit: string, runs: string[]): Promise<{ runtime: Runtime }> {
  const dir = await mkdtemp(join(tmpdir(), `sy-upgrade-${commit}-`));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await cp(new URL(`${commit}/`, FIXTURES), dir, { recursive: true });
  const { support, model } = project(runs);
  const runtime = createRuntime({ agents: [support], store: await createFileStore({ dir, fsync: false }), model });
  cleanups.push(() => runtime.close());
  return { runtime };
}

describe.each([
  { commit: '49aa7eb', p: 'o-', nap: 'o-nap', shipKey: 'o-ship:call_2' },
  { commit: '44084b6', p: 't-', nap: 't-nap3', shipKey: 't-ship@mxdhe05p:call_2' },
])('threads written by $commit', ({ commit, p, nap, shipKey }) => {
  it('are continued: each waiting one finishes, no call runs twice, no recorded event changes', async () => {
    const runs: string[] = [];
    const { runtime } = await open(commit, runs);
    // The sleeping thread and the two cut-off calls were moving when the serve was killed.
    expect(await runtime.recover()).toBe(3);

    expect(await runtime.settled(`${p}ship`)).toMatchObject({ status: 'done' });
    const charge = await runtime.settled(`${p}charge`);
    expect(charge).toMatchObject({ status: 'awaiting_human', pendingRequest: { kind: 'interrupted', tool: 'charge' } });
    expect(await runtime.settled(nap)).toMatchObject({ status: 'done', output: 'finished' });

    for (const id of [`${p}refund`, `${p}paused`]) {
      if (id.endsWith('paused')) await runtime.resume(id);
      const waiting = await runtime.settled(id);
      expect(waiting).toMatchObject({ status: 'awaiting_human', pendingRequest: { kind: 'approval', tool: 'refund' } });
      await runtime.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: true });
      expect(await runtime.settled(id)).toMatchObject({ status: 'done', output: 'finished' });
    }
    const ask = await runtime.settled(`${p}ask`);
    await runtime.respond(`${p}ask`, { requestId: ask.pendingRequest!.requestId, answer: 'A-7' });
    expect(await runtime.settled(`${p}ask`)).toMatchObject({ status: 'done' });
    await runtime.respond(`${p}charge`, { requestId: charge.pendingRequest!.requestId, approved: false, comment: 'it was charged' });
    expect(await runtime.settled(`${p}charge`)).toMatchObject({ status: 'done', output: 'denied' });

    // ship re-ran once under its recorded key; charge never; each approved refund once.
    expect(runs.filter((run) => run.startsWith('ship'))).toEqual([`ship ${shipKey} a2`]);
    expect(runs.filter((run) => run.startsWith('charge'))).toEqual([]);
    expect(runs.filter((run) => run.startsWith('refund'))).toHaveLength(2);

    const files = (await readdir(new URL(`${commit}/`, FIXTURES))).filter((name) => name.endsWith('.jsonl'));
    expect(files).toHaveLength(6);
    for (const file of files) {
      const recorded = await fixtureEvents(new URL(`${commit}/${file}`, FIXTURES));
      const now = (await runtime.get(file.replace('.jsonl', '')))!.events;
      expect(now.slice(0, recorded.length)).toEqual(recorded);
      expect(now.length).toBeGreaterThan(recorded.length);
    }
  });
});
