/**
 * A call of a tool that is not idempotent that outlives its `timeoutMs` (ignoring its abort signal)
 * asks a human whether to run it again. Approved while attempt 1 still runs in this process, the
 * approved step waits for it: its result answers the approval (the call is not run again); only
 * if it fails does attempt 2 run (QA qa21-durability D1). A process that froze while another ran
 * the call again logs an error when its late outcome comes (README "Under faults").
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { holdingWritesBefore, publisherModel } from '../support/heldTool.js';
import { deferred } from '../bus/waiting.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';

const SECRET = 'sk-live-0123456789';

/** A `publish` tool (not idempotent, 1 s deadline) whose first run returns only when released; later runs return at once. */
function slowFirstRun(idempotent = false) {
  const release = deferred<string>();
  const keys: string[] = [];
  let runs = 0;
  const publish = tool({
    name: 'publish',
    description: 'publishes the post (not idempotent)',
    input: z.object({ post: z.string() }),
    timeoutMs: 1000,
    ...(idempotent ? { idempotent: true } : {}),
    run: async (_args, { idempotencyKey }) => {
      runs++;
      keys.push(idempotencyKey);
      return runs === 1 ? release.promise : 'published again';
    },
  });
  return { publish, release, keys, runs: () => runs };
}

/** A runtime whose `publish` call timed out and asked a human; the call's first run still held. */
async function timedOutAndAsked() {
  const held = slowFirstRun();
  const { model } = publisherModel();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [held.publish], secrets: [SECRET] });
  const clock = new SimulatedClock();
  clock.set(Date.parse('2026-01-01T00:00:00Z'));
  const { logger, out } = capturingLogger('debug');
  const lines = out.lines as (LogLine & { msg: string; level: number })[];
  const runtime = createRuntime({ agents: [publisher], store: createMemoryStore({ clock }), model, logger, clock });
  const { id } = await runtime.launch('publisher', 'publish hello');
  await expect.poll(() => held.runs()).toBe(1);
  clock.increment(1000);
  const waiting = await runtime.settled(id);
  const request = waiting.pendingRequest!;
  expect(request).toMatchObject({ kind: 'interrupted', callId: 'call_2', tool: 'publish' });
  return { held, out, lines, runtime, id, request };
}

describe('a timed-out call of a tool that is not idempotent, run again on approval while its first run still runs here', () => {
  it('asks "run it again?" (what approving does), saying the call may still be running in this process (F1, D1)', async () => {
    const { runtime, request } = await timedOutAndAsked();
    expect(request.question).toContain('Run it again?');
    expect(request.question).not.toContain('Did it take effect?');
    expect(request.question).toMatch(/may still be running/);
    await runtime.close();
  });

  /** Approves running the call again, and waits until the approved step waits for the first run (or, not waiting, ran the call again). */
  async function approvedWhileRunning() {
    const asked = await timedOutAndAsked();
    const { held, lines, runtime, id, request } = asked;
    await runtime.respond(id, { requestId: request.requestId, approved: true });
    await expect.poll(() => held.runs() > 1 || lines.some((l) => l.callId === 'call_2' && /waits for it/.test(l.msg))).toBe(true);
    expect(held.runs()).toBe(1);
    return asked;
  }

  it('waits for the first run, whose result answers the approval: recorded, the call not run again (D1)', async () => {
    const { held, out, lines, runtime, id } = await approvedWhileRunning();
    expect((await runtime.get(id))!.status).toBe('running');
    held.release.resolve(`paid with ${SECRET}`);
    const done = await runtime.settled(id);

    expect(done.status).toBe('done');
    expect(done.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'error', 'human_request', 'human_response', 'tool_result', 'decision', 'final']);
    expect(done.events[6]).toMatchObject({ type: 'tool_result', data: { callId: 'call_2', tool: 'publish', result: 'paid with [REDACTED]' } });
    expect(held.runs()).toBe(1);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(lines.some((l) => l.callId === 'call_2' && /not run again/.test(l.msg))).toBe(true);
    expect(out.text).not.toContain(SECRET);
    await runtime.close();
  });

  it('runs the call again once the first run failed instead (attempt 2)', async () => {
    const { held, lines, runtime, id } = await approvedWhileRunning();
    held.release.reject(new Error('card declined'));
    const done = await runtime.settled(id);

    expect(done.status).toBe('done');
    expect(held.runs()).toBe(2);
    expect(done.events.find((e) => e.type === 'tool_call' && e.data.attempt === 2)).toBeDefined();
    expect(done.events.find((e) => e.type === 'tool_result')).toMatchObject({ data: { callId: 'call_2', result: 'published again' } });
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    await runtime.close();
  });

  it('stops waiting at a cancel: the call is not run again, and the first run returning later is an error to reconcile by hand', async () => {
    const { held, lines, runtime, id } = await approvedWhileRunning();
    await runtime.cancel(id, { by: 'ops' });
    expect((await runtime.settled(id)).status).toBe('cancelled');
    held.release.resolve('published');
    await expect.poll(() => lines.some((l) => l.level === 50 && l.callId === 'call_2')).toBe(true);

    expect(lines.find((l) => l.level === 50 && l.callId === 'call_2')!.msg).toContain('reconcile it by hand');
    expect(held.runs()).toBe(1);
    expect((await runtime.get(id))!.status).toBe('cancelled');
    await runtime.close();
  });
});

/** Two runtimes on one store, the first (logging at debug) having launched a `publisher` thread with `publish`. */
async function frozenAndOther(publish: ReturnType<typeof slowFirstRun>['publish'], secrets: string[] = []) {
  const { model } = publisherModel();
  const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish], secrets });
  const store = createMemoryStore();
  const { logger, out } = capturingLogger('debug');
  const lines = out.lines as (LogLine & { msg: string; level: number })[];
  const frozen = createRuntime({ agents: [publisher], store, model, logger });
  const other = createRuntime({ agents: [publisher], store, model });
  const { id } = await frozen.launch('publisher', 'publish hello');
  return { lines, out, frozen, other, id };
}

describe('a frozen process whose call another process ran again (qa21-durability D1b, D1c): its late outcome', () => {
  /** A runtime whose held first run of `publish` another runtime on its store took over: asked and approved, or (idempotent) ran again. */
  async function ranAgainElsewhere(idempotent: boolean) {
    const held = slowFirstRun(idempotent);
    const { lines, out, frozen, other, id } = await frozenAndOther(held.publish, [SECRET]);
    await expect.poll(() => held.runs()).toBe(1);
    expect(await other.recover()).toBe(1);
    const waiting = await other.settled(id);
    if (!idempotent) {
      expect(waiting.pendingRequest).toMatchObject({ kind: 'interrupted', callId: 'call_2' });
      expect(waiting.pendingRequest!.question).toContain('stopped or stalled');
      await other.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    }
    expect((await other.settled(id)).status).toBe('done');
    expect(held.runs()).toBe(2);
    held.release.resolve(`paid with ${SECRET}`);
    await expect.poll(() => lines.some((l) => l.callId === 'call_2' && /completed \(call call_2/.test(l.msg))).toBe(true);
    await Promise.all([frozen.close(), other.close()]);
    return { lines: lines.filter((l) => l.callId === 'call_2' && l.level >= 40), text: out.text, held, id };
  }

  it('of a tool that is not idempotent, approved to run again: an error, its effect may have happened twice', async () => {
    const { lines, text, held, id } = await ranAgainElsewhere(false);
    expect(lines).toEqual([
      expect.objectContaining({ level: 50, threadId: id, tool: 'publish', attempt: 1, recordedAttempt: 2, idempotencyKey: held.keys[0], result: 'paid with [REDACTED]' }),
    ]);
    expect(lines[0]!.msg).toMatch(/may have happened twice.*reconcile it by hand/);
    expect(text).not.toContain(SECRET);
  });

  it('of a tool that is not idempotent, coming after the approval but before the run again started: recorded, it answers the approval; the call does not run again', async () => {
    const held = slowFirstRun();
    const { model } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [held.publish] });
    const inner = createMemoryStore();
    // The other process's start of attempt 2 (its tool_call) waits until the first run's outcome is recorded.
    const { store, writing, hold } = holdingWritesBefore(inner, (events) => events.some((e) => e.type === 'tool_call' && e.data.attempt === 2));
    const { logger, out } = capturingLogger('debug');
    const lines = out.lines as (LogLine & { msg: string; level: number })[];
    const frozen = createRuntime({ agents: [publisher], store: inner, model, logger });
    const other = createRuntime({ agents: [publisher], store, model });
    const { id } = await frozen.launch('publisher', 'publish hello');
    await expect.poll(() => held.runs()).toBe(1);
    expect(await other.recover()).toBe(1);
    const waiting = await other.settled(id);
    await other.respond(id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    await writing.promise;
    held.release.resolve('published');
    await expect.poll(() => lines.some((l) => l.callId === 'call_2' && /answers that approval/.test(l.msg))).toBe(true);
    hold.resolve();
    await expect.poll(async () => (await inner.get(id))?.events.at(-1)?.type).toBe('final');

    const done = (await inner.get(id))!;
    expect(done.events.map((e) => e.type)).toEqual(['input', 'decision', 'tool_call', 'human_request', 'human_response', 'tool_result', 'decision', 'final']);
    expect(done.events[5]).toMatchObject({ type: 'tool_result', data: { callId: 'call_2', result: 'published' } });
    expect(held.runs()).toBe(1);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    await Promise.all([frozen.close(), other.close()]);
  });

  it('of an idempotent tool, coming while its run again elsewhere still runs: a warning only, the outcome of that run stands (QA qa23 finding 4)', async () => {
    const second = deferred<string>();
    let runs = 0;
    const first = deferred<string>();
    const pack = tool({
      name: 'publish',
      description: 'packs the order (idempotent)',
      input: z.object({ post: z.string() }),
      idempotent: true,
      run: async () => (++runs === 1 ? first.promise : second.promise),
    });
    const { lines, frozen, other, id } = await frozenAndOther(pack);
    await expect.poll(() => runs).toBe(1);
    expect(await other.recover()).toBe(1);
    await expect.poll(() => runs).toBe(2);
    first.resolve('packed');
    await expect.poll(() => lines.some((l) => l.callId === 'call_2' && /completed \(call call_2/.test(l.msg))).toBe(true);
    second.resolve('packed again');
    expect((await other.settled(id)).status).toBe('done');
    const late = lines.filter((l) => l.callId === 'call_2' && l.level >= 40);
    expect(late).toEqual([expect.objectContaining({ level: 40, tool: 'publish', outcome: 'result' })]);
    expect(late[0]!.msg).toMatch(/is running again|ran again/);
    expect(late[0]!.msg).not.toContain('reconcile it by hand');
    await Promise.all([frozen.close(), other.close()]);
  });

  it('of an idempotent tool, run again on recovery: a warning only (its re-run was safe)', async () => {
    const { lines } = await ranAgainElsewhere(true);
    expect(lines).toEqual([expect.objectContaining({ level: 40, tool: 'publish', outcome: 'result' })]);
    expect(lines[0]!.msg).toContain('after another process had recorded an outcome of the same call');
  });
});
