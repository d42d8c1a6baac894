import type { InspectionEvent } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { childThreadId, pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createClock } from '../support/agentHarness.js';
import { holdingWritesBefore } from '../support/heldTool.js';

/** A runtime over a simulated clock whose inspector counts the states pipeline actors enter. */
function harness(pipelines: Parameters<typeof createRuntime>[0]['pipelines'], agents: Parameters<typeof createRuntime>[0]['agents'] = []) {
  const clock = createClock();
  const entered = new Map<string, number>();
  const inspect = (event: InspectionEvent): void => {
    // Entries of a running actor (an actor stopped for a sleep reports its last state once more).
    if (event.type !== '@xstate.snapshot' || (event.snapshot as { status?: string }).status !== 'active') return;
    const value = (event.snapshot as { value?: unknown }).value;
    if (typeof value === 'string') entered.set(value, (entered.get(value) ?? 0) + 1);
  };
  const model = scriptedModel([{ intent: 'request_human_input', args: { question: 'which numbers?' } }]);
  const rt = createRuntime({ agents, pipelines, store: createMemoryStore({ clock }), model, clock, inspect });
  return { rt, clock, seen: (state: string) => entered.get(state) ?? 0 };
}

/** Waits (bounded, yielding to the event loop) until `test` holds. */
async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !test(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(test()).toBe(true);
}

/** A one-step pipeline (research, by the scout agent) on a model that notes which agents it was asked for. */
function researchOnly() {
  const asked: string[] = [];
  const model = scriptedModel([], { whenExhausted: (r: ModelRequest): ScriptedReply => (asked.push(r.agent), { intent: 'done_for_now', args: { message: 'notes' } }) });
  const scout = agent({ name: 'scout', description: 'researches', prompt: 'p', tools: [] });
  const article = pipeline({ name: 'article', description: 'research', input: z.object({ topic: z.string() }), output: z.unknown() })
    .agent({ name: 'research', agent: 'scout', input: ({ input }) => `research ${input.topic}` })
    .finish(({ results }) => results.research);
  return { asked, model, scout, article };
}

const controls = (events: readonly { type: string; data: unknown }[]) => events.filter((e) => e.type === 'control').map((e) => e.data);

describe('pause, resume and cancel a pipeline', () => {
  it('shows a pipeline in a durable sleep as sleeping (get and list), and running again once it wakes', async () => {
    const later = pipeline({ name: 'later', description: 'sleep, then act', input: z.object({}), output: z.number() })
      .sleep({ name: 'wait', ms: 60_000 })
      .code({ name: 'act', run: () => 7 })
      .finish(({ results }) => results.act);
    const { rt, clock, seen } = harness([later]);
    const { id } = await rt.launch('later', {});
    await until(() => seen('sleeping') === 1);
    expect((await rt.get(id))!.status).toBe('sleeping');
    expect((await rt.list({ status: 'sleeping' })).map((t) => t.id)).toEqual([id]);
    expect(await rt.list({ status: 'running' })).toEqual([]);
    clock.increment(60_000);
    expect(await rt.settled(id)).toMatchObject({ status: 'done', output: 7 });
  });

  it('pauses while it sleeps, stays paused past the deadline, and resumes into the recorded deadline', async () => {
    const ran: number[] = [];
    const later = pipeline({ name: 'later', description: 'sleep, then act', input: z.object({}), output: z.number() })
      .sleep({ name: 'wait', ms: 60_000 })
      .code({ name: 'act', run: () => (ran.push(1), 7) })
      .finish(({ results }) => results.act);
    const { rt, clock, seen } = harness([later]);
    const { id } = await rt.launch('later', {});
    await until(() => seen('sleeping') === 1);
    const paused = await rt.pause(id, { reason: 'change freeze', by: 'ops' });
    expect(paused.status).toBe('paused');
    expect(rt.activeCount()).toBe(0);
    clock.increment(120_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual([]);
    expect((await rt.get(id))!.status).toBe('paused');
    await rt.resume(id, { by: 'ops' });
    const done = await rt.settled(id);
    expect(done).toMatchObject({ status: 'done', output: 7 });
    expect(ran).toEqual([1]);
    expect(controls(done.events)).toEqual([
      { action: 'pause', reason: 'change freeze', by: 'ops' },
      { action: 'resume', by: 'ops' },
    ]);
    // The deadline was journaled once: resuming did not start the sleep again.
    expect(done.events.filter((e) => e.type === 'tool_call' && e.data.tool === 'wait')).toHaveLength(1);
  });

  it('pauses at once while backing off after a failed step (no retry until resumed)', async () => {
    let attempts = 0;
    const flaky = pipeline({ name: 'flaky', description: 'fails once', input: z.object({}), output: z.number(), retryDelayMs: 30_000 })
      .code({ name: 'try', run: () => (++attempts === 1 ? Promise.reject(new Error('down')) : attempts) })
      .finish(({ results }) => results.try);
    const { rt, clock, seen } = harness([flaky]);
    const { id } = await rt.launch('flaky', {});
    await until(() => seen('backingOff') === 1);
    const paused = await rt.pause(id);
    expect(paused.status).toBe('paused');
    clock.increment(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(attempts).toBe(1);
    await rt.resume(id);
    expect(await rt.settled(id)).toMatchObject({ status: 'done', output: 2 });
  });

  it('cancels a looping pipeline mid-loop: nothing runs after the cancel', async () => {
    const ran: string[] = [];
    const forever = pipeline({ name: 'forever', description: 'poll until cancelled', input: z.object({}), output: z.null(), maxTransitions: 1_000 })
      .code({ name: 'poll', run: ({ visit }) => (ran.push(`poll${visit}`), visit) })
      .sleep({ name: 'wait', ms: 1_000 })
      .branch({ name: 'again', choose: () => 'poll' })
      .finish(() => null);
    const { rt, clock, seen } = harness([forever]);
    const { id } = await rt.launch('forever', {});
    await until(() => seen('sleeping') === 1);
    clock.increment(1_000);
    await until(() => seen('sleeping') === 2);
    const cancelled = await rt.cancel(id, { reason: 'enough' });
    expect(cancelled.status).toBe('cancelled');
    clock.increment(10_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['poll1', 'poll2']);
    expect(controls(cancelled.events)).toEqual([{ action: 'cancel', reason: 'enough' }]);
    expect(cancelled.events.at(-1)?.type).toBe('control');
  });

  it('cancels a pipeline that waits for its child; the child ending later does not move it', async () => {
    const ask = pipeline({ name: 'ask', description: 'delegate to the calculator', input: z.object({}), output: z.unknown() })
      .agent({ name: 'calc', agent: 'calculator', input: () => 'add some numbers' })
      .finish(({ results }) => results.calc);
    const { rt } = harness([ask], [calculator]);
    const { id } = await rt.launch('ask', {});
    const childId = childThreadId(id, 'calc');
    // The pipeline rests in waitingForChild once its child is launched.
    expect((await rt.settled(id)).status).toBe('running');
    expect((await rt.settled(childId)).status).toBe('awaiting_human');
    expect((await rt.cancel(id)).status).toBe('cancelled');
    await rt.cancel(childId);
    await new Promise((resolve) => setImmediate(resolve));
    const after = (await rt.get(id))!;
    expect(after.status).toBe('cancelled');
    expect(after.events.at(-1)).toMatchObject({ type: 'control', data: { action: 'cancel' } });
  });
});

describe('cancelling a pipeline cancels its children', () => {
  /** The QA pass's `article`: research (scout) -> code -> branch -> ship (publisher's non-idempotent publish needs approval). */
  /** `factChecked`: the definition a deploy changed (a step inserted before the first); `store`: one a runtime before it used. */
  function articleFleet(factChecked = false, store = createMemoryStore()) {
    const published: string[] = [];
    const publish = tool({
      name: 'publish',
      description: 'publishes the article (not idempotent)',
      input: z.object({ title: z.string() }),
      approval: true,
      run: ({ title }) => (published.push(title), `published ${title}`),
    });
    const scout = agent({ name: 'scout', description: 'researches', prompt: 'p', tools: [] });
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [publish] });
    const head = pipeline({ name: 'article', description: 'research, draft, ship', input: z.object({ topic: z.string() }), output: z.unknown() });
    // The deployed change: a step inserted before the first (its result is not read after it).
    const start = factChecked ? (head.code({ name: 'fact_check', run: () => true }) as unknown as typeof head) : head;
    const article = start
      .agent({ name: 'research', agent: 'scout', input: ({ input }) => `research ${input.topic}` })
      .code({ name: 'draft', run: ({ input }) => ({ title: input.topic }) })
      .branch({ name: 'review', choose: () => undefined })
      .agent({ name: 'ship', agent: 'publisher', input: ({ results }) => `publish ${results.draft.title}` })
      .finish(({ results }) => results.ship ?? null);
    const outer = pipeline({ name: 'magazine', description: 'an issue of articles', input: z.object({}), output: z.unknown() })
      .agent({ name: 'lead', agent: 'article', input: () => ({ topic: 'lead' }) })
      .finish(({ results }) => results.lead);
    const model = scriptedModel([], {
      whenExhausted: (r: ModelRequest): ScriptedReply => {
        if (r.agent === 'scout') return { intent: 'done_for_now', args: { message: 'notes' } };
        if (r.context.includes('<tool_result') || r.context.includes('approved="false"')) return { intent: 'done_for_now', args: { message: 'shipped' } };
        return { intent: 'publish', args: { title: 'cats' } };
      },
    });
    const rt = createRuntime({ agents: [scout, publisher], pipelines: [article, outer], store, model });
    return { rt, store, published };
  }

  /** Waits until the pipeline has launched the child of `step` (it rests in waitingForChild after the launch). */
  async function untilChildLaunched(rt: ReturnType<typeof createRuntime>, id: string, step: string): Promise<void> {
    for await (const event of rt.watch(id)) if (event.type === 'tool_call' && event.data.tool === step) break;
    expect((await rt.settled(id)).status).toBe('running');
  }

  /** Launches `article` and waits until its `ship` child asks to approve `publish`. */
  async function atApproval(rt: ReturnType<typeof createRuntime>, id: string) {
    await rt.launch('article', { topic: 'cats' }, { threadId: id });
    const shipId = childThreadId(id, 'ship');
    await untilChildLaunched(rt, id, 'ship');
    const waiting = await rt.settled(shipId);
    expect(waiting).toMatchObject({ status: 'awaiting_human', pendingRequest: { kind: 'approval', tool: 'publish' } });
    return { shipId, requestId: waiting.pendingRequest!.requestId };
  }

  it('cancels the child waiting for an approval, durably, and refuses a response to it afterwards', async () => {
    const { rt, published } = articleFleet();
    const { shipId, requestId } = await atApproval(rt, 'pipe-cancel');
    expect(await rt.cancel('pipe-cancel', { reason: 'wrong topic', by: 'qa' })).toMatchObject({ status: 'cancelled' });
    const ship = (await rt.get(shipId))!;
    expect(ship.status).toBe('cancelled');
    expect(controls(ship.events)).toEqual([{ action: 'cancel', reason: 'pipeline pipe-cancel cancelled', by: 'qa' }]);
    await expect(rt.respond(shipId, { requestId, approved: true })).rejects.toMatchObject({ name: 'InvalidStateError', message: `thread ${shipId} is cancelled`, status: 'cancelled' });
    expect(published).toEqual([]);
    // A child that had ended is left as it was.
    const research = (await rt.get(childThreadId('pipe-cancel', 'research')))!;
    expect(research.status).toBe('done');
    expect(controls(research.events)).toEqual([]);
    // Cancelling again changes nothing.
    await rt.cancel('pipe-cancel');
    expect(controls((await rt.get(shipId))!.events)).toHaveLength(1);
  });

  it('cancels through a pipeline of pipelines: each level names its own parent', async () => {
    const { rt } = articleFleet();
    await rt.launch('magazine', {}, { threadId: 'mag' });
    const articleId = childThreadId('mag', 'lead');
    const shipId = childThreadId(articleId, 'ship');
    await untilChildLaunched(rt, 'mag', 'lead');
    await untilChildLaunched(rt, articleId, 'ship');
    expect((await rt.settled(shipId)).status).toBe('awaiting_human');
    await rt.cancel('mag');
    const inner = (await rt.get(articleId))!;
    expect(inner.status).toBe('cancelled');
    expect(controls(inner.events)).toEqual([{ action: 'cancel', reason: 'pipeline mag cancelled' }]);
    const ship = (await rt.get(shipId))!;
    expect(ship.status).toBe('cancelled');
    expect(controls(ship.events)).toEqual([{ action: 'cancel', reason: `pipeline ${articleId} cancelled` }]);
  });

  /** The parent's cancel as a process that died right after writing it left it: its children untouched. */
  async function cancelledWithoutChildren(store: ReturnType<typeof createMemoryStore>, id: string): Promise<void> {
    const parent = (await store.get(id))!;
    await store.append(id, parent.events.length, [{ seq: parent.events.length + 1, at: new Date().toISOString(), type: 'control', data: { action: 'cancel' } }]);
  }

  it("converges after a crash between the pipeline's cancel and its children's: a response to the child cancels it instead", async () => {
    const { rt, store, published } = articleFleet();
    const { shipId, requestId } = await atApproval(rt, 'pipe-crash');
    await cancelledWithoutChildren(store, 'pipe-crash');
    expect((await rt.get(shipId))!.status).toBe('awaiting_human');
    await expect(rt.respond(shipId, { requestId, approved: true })).rejects.toMatchObject({ name: 'InvalidStateError', message: `thread ${shipId} is cancelled` });
    const ship = (await rt.get(shipId))!;
    expect(ship.status).toBe('cancelled');
    expect(controls(ship.events)).toEqual([{ action: 'cancel', reason: 'pipeline pipe-crash cancelled' }]);
    expect(published).toEqual([]);
  });

  it('a response to the child of a pipeline that failed meanwhile (its definition changed, say) cancels the child instead of running its call (QA19 pipelines #3)', async () => {
    const { rt, store, published } = articleFleet();
    const { shipId, requestId } = await atApproval(rt, 'pipe-failed');
    const parent = (await store.get('pipe-failed'))!;
    await store.append('pipe-failed', parent.events.length, [{ seq: parent.events.length + 1, at: new Date().toISOString(), type: 'failed', data: { reason: 'pipeline article: its definition changed since this run started' } }]);
    await expect(rt.respond(shipId, { requestId, approved: true })).rejects.toMatchObject({ name: 'InvalidStateError', message: `thread ${shipId} is cancelled` });
    const ship = (await rt.get(shipId))!;
    expect(ship.status).toBe('cancelled');
    expect(controls(ship.events)).toEqual([{ action: 'cancel', reason: 'pipeline pipe-failed failed' }]);
    expect(published).toEqual([]);
  });

  it('a pipeline that fails while its child waits (a deploy changed its definition) cancels the child at once, not when someone next answers it (QA21 durability F3)', async () => {
    const store = createMemoryStore();
    // The process before the deploy stops; the store (a directory, say) stays.
    const before = articleFleet(false, { ...store, close: async () => {} });
    const { shipId } = await atApproval(before.rt, 'pipe-deploy');
    await before.rt.close();
    const after = articleFleet(true, store);
    await after.rt.recover();
    expect(await after.rt.settled('pipe-deploy')).toMatchObject({ status: 'failed' });
    // Nobody touched the child: it is cancelled all the same, so no waiting list offers its approval.
    await vi.waitFor(async () => expect((await after.rt.get(shipId))!.status).toBe('cancelled'));
    expect(controls((await after.rt.get(shipId))!.events)).toEqual([{ action: 'cancel', reason: 'pipeline pipe-deploy failed' }]);
    expect(after.published).toEqual([]);
    await after.rt.close();
  });

  it("close() waits for the cancel of a failed pipeline's child still on its way: the child is cancelled when close resolves (not when it next moves)", async () => {
    const store = createMemoryStore();
    const before = articleFleet(false, { ...store, close: async () => {} });
    const { shipId } = await atApproval(before.rt, 'pipe-closing');
    await before.rt.close();
    // The child's cancel is held until the close has begun (one turn of the event loop after it).
    const { store: held, writing, hold } = holdingWritesBefore({ ...store, close: async () => {} }, (events) => events.some((e) => e.type === 'control'));
    const after = articleFleet(true, held);
    await after.rt.recover();
    expect(await after.rt.settled('pipe-closing')).toMatchObject({ status: 'failed' });
    await writing.promise;
    const closing = after.rt.close();
    setImmediate(() => hold.resolve());
    await closing;

    const ship = (await store.get(shipId))!;
    expect(ship.events.at(-1)).toMatchObject({ type: 'control', data: { action: 'cancel', reason: 'pipeline pipe-closing failed' } });
    expect(after.published).toEqual([]);
  });

  it('pausing a pipeline leaves its child as it is: the child may end meanwhile, and the pipeline moves on only once resumed', async () => {
    const { rt, published } = articleFleet();
    const { shipId, requestId } = await atApproval(rt, 'pipe-pause');
    expect(await rt.pause('pipe-pause', { by: 'qa' })).toMatchObject({ status: 'paused' });
    expect((await rt.get(shipId))!.status).toBe('awaiting_human');
    await rt.respond(shipId, { requestId, approved: true });
    expect(await rt.settled(shipId)).toMatchObject({ status: 'done', output: 'shipped' });
    expect(published).toEqual(['cats']);
    // The child's end woke the pipeline, which stays paused.
    expect(await rt.settled('pipe-pause')).toMatchObject({ status: 'paused' });
    await rt.resume('pipe-pause');
    expect(await rt.settled('pipe-pause')).toMatchObject({ status: 'done', output: 'shipped' });
  });

  it("recovery cancels a child that was running when the process died between the pipeline's cancel and its children's, instead of running it", async () => {
    const { asked, model, scout, article } = researchOnly();
    // What the dead process left: the pipeline cancelled (its last event), its child still running.
    const store = createMemoryStore();
    const at = new Date().toISOString();
    const childId = childThreadId('pipe-dead', 'research');
    await store.create({
      id: 'pipe-dead',
      agent: 'article',
      events: [
        { seq: 1, at, type: 'input', data: { input: { topic: 'cats' } } },
        { seq: 2, at, type: 'tool_call', data: { callId: 'c1', tool: 'research', args: { threadId: childId, agent: 'scout', input: 'research cats' }, idempotencyKey: 'k1', attempt: 1 } },
        { seq: 3, at, type: 'control', data: { action: 'cancel' } },
      ],
    });
    await store.create({ id: childId, agent: 'scout', events: [{ seq: 1, at, type: 'input', data: { input: 'research cats', source: { kind: 'pipeline', parentId: 'pipe-dead' } } }] });
    expect((await store.list({ status: 'running' })).map((t) => t.id)).toEqual([childId]);
    const rt = createRuntime({ agents: [scout], pipelines: [article], store, model });
    const recovered = await rt.recover();
    const child = await rt.settled(childId);
    expect(child.status).toBe('cancelled');
    expect(controls(child.events)).toEqual([{ action: 'cancel', reason: 'pipeline pipe-dead cancelled' }]);
    // It took no step: the model was never asked.
    expect(asked).toEqual([]);
    expect(child.events.map((e) => e.type)).toEqual(['input', 'control']);
    expect(recovered).toBe(0);
  });

  it('cancels a child that its pipeline was launching while the pipeline was cancelled, before the child takes a step', async () => {
    const { asked, model, scout, article } = researchOnly();
    const childId = childThreadId('pipe-race', 'research');
    // The child's create is held until the pipeline's cancel has returned: the cancel looks for the
    // child before it exists (the order the race can take), and the child is created after.
    const inner = createMemoryStore();
    let release!: () => void;
    const cancelled = new Promise<void>((resolve) => (release = resolve));
    let creating!: () => void;
    const launching = new Promise<void>((resolve) => (creating = resolve));
    let childCreated!: () => void;
    const created = new Promise<void>((resolve) => (childCreated = resolve));
    const store: typeof inner = {
      ...inner,
      async create(thread) {
        if (thread.id !== childId) return inner.create(thread);
        creating();
        await cancelled;
        const stored = await inner.create(thread);
        childCreated();
        return stored;
      },
    };
    const rt = createRuntime({ agents: [scout], pipelines: [article], store, model });
    await rt.launch('article', { topic: 'cats' }, { threadId: 'pipe-race' });
    await launching;
    expect(await rt.cancel('pipe-race')).toMatchObject({ status: 'cancelled' });
    expect(await rt.get(childId)).toBeUndefined();
    release();
    await created;
    // Its events until it ends (it runs to done when nothing stops it).
    for await (const event of rt.watch(childId)) void event;
    const child = (await rt.get(childId))!;
    expect(child.status).toBe('cancelled');
    expect(controls(child.events)).toEqual([{ action: 'cancel', reason: 'pipeline pipe-race cancelled' }]);
    expect(child.events.map((e) => e.type)).toEqual(['input', 'control']);
    expect(asked).toEqual([]);
  });

  it('cancels the existing child, instead of running it, when the pipeline re-runs its agent step after a restart and was cancelled meanwhile', async () => {
    const { asked, model, scout, article } = researchOnly();
    // What the dead process left: the pipeline had journaled and created its child, which took no step.
    const inner = createMemoryStore();
    const at = new Date().toISOString();
    const childId = childThreadId('pipe-rerun', 'research');
    await inner.create({
      id: 'pipe-rerun',
      agent: 'article',
      events: [
        { seq: 1, at, type: 'input', data: { input: { topic: 'cats' } } },
        { seq: 2, at, type: 'tool_call', data: { callId: 'c1', tool: 'research', args: { threadId: childId, agent: 'scout', input: 'research cats' }, idempotencyKey: 'k1', attempt: 1 } },
      ],
    });
    await inner.create({ id: childId, agent: 'scout', events: [{ seq: 1, at, type: 'input', data: { input: 'research cats', source: { kind: 'pipeline', parentId: 'pipe-rerun' } } }] });
    // While the pipeline re-runs its step, another process cancels it and dies before its children:
    // the cancel lands just before the step launches the child again.
    const store: typeof inner = {
      ...inner,
      async create(thread) {
        if (thread.id === childId) await cancelledWithoutChildren(inner, 'pipe-rerun');
        return inner.create(thread);
      },
    };
    const rt = createRuntime({ agents: [scout], pipelines: [article], store, model });
    await rt.run('pipe-rerun');
    const child = await rt.settled(childId);
    expect(child.status).toBe('cancelled');
    expect(controls(child.events)).toEqual([{ action: 'cancel', reason: 'pipeline pipe-rerun cancelled' }]);
    expect(child.events.map((e) => e.type)).toEqual(['input', 'control']);
    expect(asked).toEqual([]);
    expect((await rt.get('pipe-rerun'))!.status).toBe('cancelled');
  });

  it('converges after such a crash when the pipeline is cancelled again', async () => {
    const { rt, store } = articleFleet();
    const { shipId } = await atApproval(rt, 'pipe-again');
    await cancelledWithoutChildren(store, 'pipe-again');
    expect(await rt.cancel('pipe-again')).toMatchObject({ status: 'cancelled' });
    const ship = (await rt.get(shipId))!;
    expect(ship.status).toBe('cancelled');
    expect(controls(ship.events)).toEqual([{ action: 'cancel', reason: 'pipeline pipe-again cancelled' }]);
  });
});
