import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { checkAppend, checkThread, parseStoredEvents } from '../../src/store/checkEvents.js';
import type { Thread, ThreadEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';
import { eventArbitrary } from '../thread/eventArbitrary.js';
import { awkwardString, idArbitrary } from './idArbitrary.js';
import { batchesArbitrary } from './threadArbitrary.js';

/** What `fn` returns, or the error it threw. */
function attempt<T>(fn: () => T): T | Error {
  try {
    return fn();
  } catch (error) {
    return error as Error;
  }
}

/** Events as outside code may hand them in: valid ones, damaged ones, or not events at all. */
const eventsLike = fc.oneof(
  batchesArbitrary.map((batches) => batches.flat() as unknown),
  fc.tuple(batchesArbitrary, fc.nat(), fc.constantFrom('seq', 'type', 'at', 'data')).map(([batches, at, key]) => {
    const events = batches.flat().map((e) => ({ ...e })) as Record<string, unknown>[];
    if (events.length > 0) events[at % events.length]![key] = key === 'seq' ? 0 : undefined;
    return events as unknown;
  }),
  fc.constantFrom(null, undefined, 5, 'events', {}, [null], [[]]),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Whether `events` are seqs `from + 1`, `from + 2`, ... */
function continues(events: readonly ThreadEvent[], from: number): boolean {
  return events.every((event, i) => event.seq === from + i + 1);
}

describe('checkThread', () => {
  it('copies any valid thread deeply, so later changes to the caller’s objects never reach the store', () => {
    fc.assert(
      fc.property(idArbitrary, awkwardString, batchesArbitrary, (id, agent, batches) => {
        const events = batches.flat();
        const thread: Thread = { id, agent, events: structuredClone(events) };
        const checked = checkThread(thread);
        expect(checked).toEqual({ id, agent, events });
        for (const event of thread.events) (event as { data: unknown }).data = { changed: true };
        expect(checked.events).toEqual(events);
      }),
      { numRuns: 100 },
    );
  });

  it('answers anything else with InvalidInputError', () => {
    const threadLike = fc.record({ id: fc.oneof(idArbitrary, fc.constantFrom('', 5, null)), agent: fc.oneof(awkwardString, fc.constantFrom('', 5, null)), events: eventsLike }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(threadLike, fc.constantFrom(null, undefined, 5, 'thread')), (thread) => {
        const checked = attempt(() => checkThread(thread as Thread));
        if (checked instanceof Error) expect(checked).toBeInstanceOf(InvalidInputError);
        else expect(continues(checked.events, 0) && checked.id.length > 0 && checked.agent.length > 0).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('checkAppend', () => {
  it('takes events continuing the thread, copied, stamped by the runtime or not', () => {
    fc.assert(
      fc.property(fc.nat({ max: 50 }), fc.array(eventArbitrary, { maxLength: 5 }), (version, fresh) => {
        const stamped = stampEvents(version, fresh, '2024-01-01T00:00:00.000Z');
        expect(checkAppend('t', version, stamped)).toEqual([...stamped]);
        const plain = structuredClone([...stamped]);
        const checked = checkAppend('t', version, plain);
        expect(checked).toEqual(plain);
        if (plain.length > 0) expect(checked[0]).not.toBe(plain[0]);
      }),
      { numRuns: 150 },
    );
  });

  it('answers any other events or version with InvalidInputError, never another error', () => {
    const version = fc.oneof(fc.nat({ max: 5 }), fc.constantFrom(-1, 1.5, Number.NaN, Infinity));
    fc.assert(
      fc.property(version, eventsLike, (v, events) => {
        const checked = attempt(() => checkAppend('t', v, events as ThreadEvent[]));
        if (checked instanceof Error) expect(checked).toBeInstanceOf(InvalidInputError);
        else expect(continues(checked, v)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseStoredEvents', () => {
  it('answers anything read back with events continuing the version or an error value, never a throw', () => {
    fc.assert(
      fc.property(fc.nat({ max: 5 }), eventsLike, (version, raw) => {
        const parsed = parseStoredEvents(raw, version);
        if (parsed.success) expect(continues(parsed.data, version)).toBe(true);
        else expect(parsed.error.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });
});
