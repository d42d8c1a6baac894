import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import type { Bus } from '../../src/bus/bus.js';
import { createMemoryBus } from '../../src/bus/memoryBus.js';
import { createDemoModel } from '../../src/model/demoModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { createAgentQueues } from '../../src/surface/agentQueues.js';
import { attachBus } from '../../src/surface/attachBus.js';
import { isReplySubject, type TriggerResult } from '../../src/surface/payloads.js';
import { MSG_ID_HEADER, REPLY_TO_HEADER } from '../../src/surface/subjects.js';
import type { Thread } from '../../src/thread/events.js';
import { parseEvents } from '../../src/thread/thread.js';
import { collector } from '../bus/waiting.js';

/** One trigger from outside: where it is published, its bytes, its headers. */
interface Trigger {
  readonly agent: string;
  readonly payload: string;
  readonly msgId: string | undefined;
  /** The `Switchyard-Reply-To` header: `r.<i>`, or one far past what a server takes. */
  readonly header: string;
}

const payloadReplyTo = fc.constantFrom<'none' | 'valid' | 'wildcard' | 'long' | 'number'>('none', 'valid', 'wildcard', 'long', 'number');
const triggerObject = fc.record(
  {
    input: fc.oneof(fc.constantFrom('what is 2 + 3', 'what is (3 + 4) / 2', 'hello', ''), fc.jsonValue({ maxDepth: 2 })),
    threadId: fc.oneof(fc.constantFrom('t-a', 't-b'), fc.string({ maxLength: 8 })),
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);
/** A trigger's payload before its replyTo is set: not JSON, any JSON, or trigger-shaped. */
const payloadArbitrary = fc.oneof(
  fc.string({ maxLength: 30 }).map((text) => ({ text })),
  fc.jsonValue({ maxDepth: 2 }).map((json) => ({ json: json as unknown })),
  fc.tuple(triggerObject, payloadReplyTo).map(([object, replyTo]) => ({ object, replyTo })),
);
type Payload = typeof payloadArbitrary extends fc.Arbitrary<infer T> ? T : never;
const triggerArbitrary = fc.record({
  agent: fc.constantFrom('calculator', 'calculator', 'nosuch', 'calculator.deep'),
  payload: payloadArbitrary,
  msgId: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  longHeader: fc.boolean(),
});

/** The payload text of trigger `i`, its payload `replyTo` set as `kind` says. */
function payloadText(i: number, payload: Payload): string {
  if ('text' in payload) return payload.text;
  if ('json' in payload) return JSON.stringify(payload.json);
  const replyTo = { none: undefined, valid: `p.${i}`, wildcard: `p.${i}.*`, long: `p.${'x'.repeat(600)}`, number: 7 }[payload.replyTo];
  return JSON.stringify(replyTo === undefined ? payload.object : { ...payload.object, replyTo });
}

/** Where a trigger must hear back: its payload's replyTo when that is usable, else its header's, if usable. */
function replyTarget({ payload, header }: Trigger): string | undefined {
  try {
    const value = JSON.parse(payload) as { replyTo?: unknown } | null;
    const raw = typeof value === 'object' ? value?.replyTo : undefined;
    if (typeof raw === 'string' && isReplySubject(raw)) return raw;
  } catch {
    // not JSON: the header's
  }
  return isReplySubject(header) ? header : undefined;
}

/** Runs `test` against a surface on a fresh in-process bus (calculator agent, demo model), then closes it all. */
async function withSurface(test: (bus: Bus, store: ThreadStore) => Promise<void>): Promise<void> {
  const bus = createMemoryBus();
  const store = createMemoryStore();
  const queues = createAgentQueues({ bus, ackWaitMs: 5_000 });
  const runtime = createRuntime({ agents: [calculator], store, model: createDemoModel(), schedule: queues.schedule });
  const surface = await attachBus(runtime, { queues, processId: 'p1' });
  try {
    await test(bus, store);
  } finally {
    await surface.close({ drainMs: 1_000 });
    await runtime.close();
    await bus.close();
  }
}

/** The thread reads back from JSON through the event schemas as it is (what a file or KV store does). */
function expectReadsBack(thread: Thread): void {
  expect(parseEvents(JSON.parse(JSON.stringify(thread.events)))).toEqual({ success: true, data: thread.events });
}

describe('triggers from outside on the in-process bus (property)', () => {
  it('every trigger, however malformed, hears back where it asked; the worker keeps working and every thread reads back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(triggerArbitrary, { minLength: 1, maxLength: 4 }), (generated) =>
        withSurface(async (bus, store) => {
          const heard = new Map<string, ReturnType<typeof collector<unknown>>>();
          const hear = (subject: string) => heard.get(subject) ?? heard.set(subject, collector<unknown>()).get(subject)!;
          // Everything published, so nothing goes to a subject past a server's control line (4 KiB).
          const published: string[] = [];
          bus.subscribe('>', (msg) => {
            published.push(msg.subject);
            if (/^(p|r|final)\./.test(msg.subject)) hear(msg.subject).push(msg.json());
          });

          const triggers: Trigger[] = generated.map((t, i) => ({
            agent: t.agent,
            payload: payloadText(i, t.payload),
            msgId: t.msgId === undefined ? undefined : `${t.msgId}#${i}`,
            header: t.longHeader ? `r.${i}.${'x'.repeat(5_000)}` : `r.${i}`,
          }));
          for (const t of triggers) {
            const headers: Record<string, string> = { [REPLY_TO_HEADER]: t.header };
            if (t.msgId !== undefined) headers[MSG_ID_HEADER] = t.msgId;
            await bus.publish(`switchyard.trigger.${t.agent}`, t.payload, { headers });
          }
          for (const [i, t] of triggers.entries()) {
            const target = replyTarget(t);
            if (target !== undefined) await hear(target).until(1, 5_000, `a reply to trigger ${i}`);
          }

          // The worker still takes a good trigger, and every thread reads back as it was written.
          await bus.publish('switchyard.trigger.calculator', { input: 'what is 2 + 3', replyTo: 'final.ok' });
          const [result] = (await hear('final.ok').until(1, 5_000, 'the good trigger')) as { data: TriggerResult }[];
          expect(result!.data).toMatchObject({ status: 'done', output: '2 + 3 = 5' });
          for (const summary of await store.list()) expectReadsBack((await store.get(summary.id))!);
          expect(published.filter((subject) => subject.length > 1_024)).toEqual([]);
        }),
      ),
      { numRuns: 25, seed: 81, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true },
    );
  });

  it('any respond, control or get request gets a reply that names the problem, never an internal error, and the thread stays readable', async () => {
    const requestId = fc.oneof(fc.constant('OPEN'), fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 }));
    const respondBody = fc.record(
      { requestId, approved: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })), answer: fc.oneof(fc.string({ maxLength: 10 }), fc.constant('yes')), by: fc.string({ maxLength: 5 }) },
      { requiredKeys: [] },
    );
    const controlBody = fc.record(
      { action: fc.oneof(fc.constantFrom('pause', 'resume', 'cancel'), fc.string({ maxLength: 6 })), reason: fc.oneof(fc.string({ maxLength: 10 }), fc.integer()) },
      { requiredKeys: [] },
    );
    const request = fc.record({
      threadId: fc.oneof(fc.constant('trg-wait'), fc.constant('trg-none'), fc.string({ maxLength: 10 })),
      op: fc.oneof(fc.constantFrom('respond', 'control', 'get'), fc.string({ maxLength: 6 })),
      body: fc.oneof(respondBody.map((b) => JSON.stringify(b)), controlBody.map((b) => JSON.stringify(b)), fc.string({ maxLength: 20 }), fc.constant('')),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 5 }), (requests) =>
        withSurface(async (bus, store) => {
          const results = collector<TriggerResult>();
          bus.subscribe('res', (msg) => results.push((msg.json() as { data: TriggerResult }).data));
          await bus.publish('switchyard.trigger.calculator', { input: 'what is (3 + 4) / 2', replyTo: 'res' }, { headers: { [MSG_ID_HEADER]: 'wait' } });
          const [waiting] = await results.until(1, 5_000, 'the approval request');
          const open = waiting!.pendingRequest!.requestId;
          for (const { threadId, op, body } of requests) {
            const subject = `switchyard.thread.${threadId}.${op}`;
            if (!/^[^\s.*>]+$/.test(threadId) || !/^[^\s.*>]+$/.test(op)) continue; // not a subject this surface serves
            const reply = (await bus.request(subject, body.replaceAll('OPEN', open), { timeoutMs: 5_000 })).json();
            expect(reply.success).toBe(true);
            const data = (reply as { data: { ok: boolean; code?: string; kind?: string; error?: string } }).data;
            if (!data.ok) {
              expect(['bad_request', 'not_found', 'conflict', 'payload_too_large']).toContain(data.kind);
              expect(data.error).toEqual(expect.any(String));
            }
          }
          expectReadsBack((await store.get('trg-wait'))!);
        }),
      ),
      { numRuns: 25, seed: 82, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true },
    );
  });
});
