/**
 * `Runtime.escalate` (a poison job's thread, QA qa23 finding 7): an escalation and its human
 * request written from outside the thread's run, at the version read: a thread written since (a
 * worker alive after all) or at rest is left alone; answering runs it again, denying fails it.
 */
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { Thread } from '../../src/thread/events.js';

/** A runtime whose threads run nowhere (a scheduler that drops them): they stay where they are written. */
function idleRuntime(): { runtime: Runtime; scheduled: Thread[] } {
  const scheduled: Thread[] = [];
  const runtime = createRuntime({ agents: [calculator], store: createMemoryStore(), model: createDemoModel(), schedule: (thread) => void scheduled.push(thread) });
  return { runtime, scheduled };
}

const escalation = (version: number) => ({ version, reason: 'non_retryable_error' as const, message: 'job q:1 dead-lettered', question: 'delivered 5 times; answer to run it again' });

describe('Runtime.escalate', () => {
  it('escalates a running thread at the version read, as an agent escalates', async () => {
    const { runtime } = idleRuntime();
    await runtime.launch('calculator', 'multiply 6 by 7', { threadId: 'e1' });
    const view = await runtime.escalate('e1', escalation(1));
    expect(view?.status).toBe('escalated');
    expect(view?.events.slice(1)).toMatchObject([
      { seq: 2, type: 'escalation', data: { reason: 'non_retryable_error', message: 'job q:1 dead-lettered' } },
      { seq: 3, type: 'human_request', data: { kind: 'escalation', urgency: 'high', question: 'delivered 5 times; answer to run it again' } },
    ]);
    expect(view?.pendingRequest?.requestId).toBe((view?.events[1]?.data as { requestId: string }).requestId);
    await runtime.close();
  });

  it('leaves alone a thread written since the version read, and one at rest', async () => {
    const { runtime } = idleRuntime();
    await runtime.launch('calculator', 'multiply 6 by 7', { threadId: 'e2' });
    expect(await runtime.escalate('e2', escalation(0))).toBeUndefined();
    expect((await runtime.get('e2'))?.version).toBe(1);
    await runtime.escalate('e2', escalation(1));
    expect(await runtime.escalate('e2', escalation(3))).toBeUndefined();
    expect((await runtime.get('e2'))?.version).toBe(3);
    await runtime.close();
  });

  it('is answered like any escalation: an answer runs the thread again, a denial fails it', async () => {
    const { runtime, scheduled } = idleRuntime();
    await runtime.launch('calculator', 'multiply 6 by 7', { threadId: 'e3' });
    const escalated = await runtime.escalate('e3', escalation(1));
    scheduled.length = 0;
    const answered = await runtime.respond('e3', { requestId: escalated!.pendingRequest!.requestId, answer: 'fixed; go on' });
    expect(answered.status).toBe('running');
    expect(scheduled.map((t) => t.id)).toEqual(['e3']);

    await runtime.launch('calculator', 'multiply 6 by 7', { threadId: 'e4' });
    const other = await runtime.escalate('e4', escalation(1));
    const denied = await runtime.respond('e4', { requestId: other!.pendingRequest!.requestId, approved: false, by: 'ops' });
    expect(denied.status).toBe('failed');
    await runtime.close();
  });
});
