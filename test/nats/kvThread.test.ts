import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { hasThreadKey } from '../../src/nats/kvKeys.js';
import { parseSummary, storedSummaryOf, type Known } from '../../src/nats/kvSummaries.js';
import { CorruptThreadError, encodeThread, knownOf } from '../../src/nats/kvThread.js';
import { mapError } from '../../src/server/errorMapper.js';
import { reduceState, initialState } from '../../src/thread/state.js';
import { awkwardString, idArbitrary } from '../store/idArbitrary.js';
import { batchesArbitrary } from '../store/threadArbitrary.js';

const created = new Date(Date.UTC(2024, 0, 1));

/** A bucket entry holding `text`, as the KV client hands it over. */
function entryOf(text: string, revision = 7) {
  return { bucket: 'KV_threads', revision, created, json: <T>() => JSON.parse(text) as T };
}

/** The known thread of `text`, or the error `knownOf` threw. */
function knownOrError(id: string, text: string): Known | Error {
  try {
    return knownOf(id, entryOf(text));
  } catch (error) {
    return error as Error;
  }
}

describe('knownOf', () => {
  it('reads back every thread encodeThread wrote', () => {
    fc.assert(
      fc.property(idArbitrary, awkwardString, batchesArbitrary, fc.option(awkwardString, { nil: undefined }), (id, agent, batches, at) => {
        const events = batches.flat();
        const createdAt = events[0]?.at ?? at ?? '2024-01-01T00:00:00.000Z';
        const known = knownOf(id, entryOf(encodeThread(agent, JSON.stringify(events), createdAt), 9));
        expect(known.thread).toEqual({ id, agent, events });
        expect(known.createdAt).toBe(createdAt);
        expect(known.revision).toBe(9);
        expect(JSON.parse(known.eventsJson)).toEqual(events);
        expect(known.state).toEqual(events.reduce(reduceState, initialState));
        expect(Object.isFrozen(known.thread.events)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('answers a value that is not a thread with CorruptThreadError, never another error', () => {
    const value = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.tuple(batchesArbitrary, fc.integer({ min: 0, max: 4 })).map(([batches, damage]) => {
        // A thread with one thing damaged: a seq out of order, no agent, an event of no type, no events array.
        const events = batches.flat();
        const damaged = [
          { agent: 'a', events: events.map((e, i) => (i === events.length - 1 ? { ...e, seq: e.seq + 1 } : e)), createdAt: 'x' },
          { agent: '', events },
          { events },
          { agent: 'a', events: [...events, { seq: events.length + 1 }] },
          { agent: 'a', events: {} },
        ];
        return JSON.stringify(damaged[damage]);
      }),
    );
    fc.assert(
      fc.property(value, (text) => {
        const known = knownOrError('t', text);
        if (known instanceof Error) expect(known).toBeInstanceOf(CorruptThreadError);
        else expect(known.thread.agent.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseSummary', () => {
  const encoder = new TextEncoder();

  it('reads back every summary the store writes', () => {
    fc.assert(
      fc.property(idArbitrary.filter(hasThreadKey), awkwardString, batchesArbitrary, fc.option(fc.nat(), { nil: undefined }), (id, agent, batches, entry) => {
        const events = batches.flat();
        const known = knownOf(id, entryOf(encodeThread(agent, JSON.stringify(events), events[0]?.at ?? 'then')));
        const summary = storedSummaryOf(known, entry);
        expect(parseSummary(encoder.encode(JSON.stringify(summary)))).toEqual(summary);
      }),
      { numRuns: 100 },
    );
  });

  it('never throws on foreign bytes, and accepts only summaries of ids a key can hold', () => {
    const summaryLike = fc.record(
      {
        id: fc.oneof(idArbitrary, fc.constant(''), fc.constant('é'.repeat(2000)), fc.jsonValue()),
        agent: fc.oneof(awkwardString, fc.jsonValue()),
        status: fc.oneof(fc.constantFrom('running', 'done', 'awaiting_human', 'nope'), fc.jsonValue()),
        version: fc.oneof(fc.nat(), fc.jsonValue()),
        revision: fc.oneof(fc.nat(), fc.jsonValue()),
        createdAt: fc.oneof(awkwardString, fc.jsonValue()),
        updatedAt: fc.oneof(awkwardString, fc.jsonValue()),
        since: fc.oneof(fc.nat(), fc.jsonValue()),
        pending: fc.oneof(fc.record({ requestId: awkwardString, kind: fc.constantFrom('input', 'approval', 'nope'), question: awkwardString, at: awkwardString }), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.string({ unit: 'binary' }).map((s) => encoder.encode(s)),
      summaryLike.map((s) => encoder.encode(JSON.stringify(s))),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const summary = parseSummary(b);
        if (summary !== undefined) expect(hasThreadKey(summary.id)).toBe(true);
        if (summary?.pending !== undefined) expect(summary.pending).toMatchObject({ requestId: expect.any(String), kind: expect.stringMatching(/^(input|approval)$/) });
      }),
      { numRuns: 500 },
    );
  });

  it('reads a summary without a pending request (the previous version wrote none), or with one no writer writes, as one without it', () => {
    const summary = { id: 't1', agent: 'a', status: 'awaiting_human', version: 2, revision: 3, createdAt: 'c', updatedAt: 'u', since: 2 };
    for (const pending of [undefined, 5, 'req_1', { requestId: 'req_1' }, { requestId: 'req_1', kind: 'approval', question: 'q?', at: 'then', args: 7 }]) {
      const parsed = parseSummary(encoder.encode(JSON.stringify({ ...summary, pending })));
      expect(parsed).toEqual(summary);
      expect(parsed).not.toHaveProperty('pending');
    }
    const pending = { requestId: 'req_1', kind: 'approval', question: 'q?', tool: 'send', args: { to: 'ana' }, at: 'then' };
    expect(parseSummary(encoder.encode(JSON.stringify({ ...summary, pending })))).toEqual({ ...summary, pending });
  });

  it('reads a summary without a failure (the previous version wrote none), or with one no writer writes, as one without it', () => {
    const summary = { id: 't1', agent: 'a', status: 'failed', version: 2, revision: 3, createdAt: 'c', updatedAt: 'u', since: 2 };
    for (const failure of [undefined, 5, 'boom', { kind: 'exploded', message: 'boom' }, { kind: 'failed', message: 7 }, { kind: 'cancelled', by: ['ops'] }]) {
      const parsed = parseSummary(encoder.encode(JSON.stringify({ ...summary, failure })));
      expect(parsed).toEqual(summary);
      expect(parsed).not.toHaveProperty('failure');
    }
    for (const failure of [{ kind: 'failed', message: 'boom' }, { kind: 'cancelled', by: 'ops' }]) {
      expect(parseSummary(encoder.encode(JSON.stringify({ ...summary, failure })))).toEqual({ ...summary, failure });
    }
  });
});

describe('a corrupt thread over HTTP', () => {
  it('is answered 500 naming the thread and what is wrong, as a corrupt thread file is, not with the generic message', () => {
    for (const [text, reason] of [['garbage{', /^thread t-bad is corrupt: not JSON/], ['{"events":[]}', /^thread t-bad is corrupt: no agent/]] as const) {
      const error = knownOrError('t-bad', text);
      expect(error).toBeInstanceOf(CorruptThreadError);
      const { status, body } = mapError(error, silentLogger());
      expect(status).toBe(500);
      expect(body.error).toMatch(reason);
    }
  });

  it('is answered in one short line however much of the value is wrong; the log line keeps it all', () => {
    // A foreign value: a thousand events of no known type, each with a large payload.
    const events = Array.from({ length: 1_000 }, (_, i) => ({ seq: i + 1, at: created.toISOString(), type: 'note', data: { text: 'x'.repeat(100) } }));
    const corrupt = knownOrError('t-big', JSON.stringify({ agent: 'a', events }));
    expect(corrupt).toBeInstanceOf(CorruptThreadError);
    const { answer, message } = corrupt as CorruptThreadError;
    expect(answer).toMatch(/^thread t-big is corrupt: 0\.type: .+ \(and 999 more issues\); it cannot be read/);
    expect(answer).not.toContain('\n');
    expect(answer.length).toBeLessThan(300);
    expect(message.match(/"code"/g)?.length).toBeGreaterThanOrEqual(1_000);

    const notJson = knownOrError('t-bad', `{"agent":"a","events":[${'"x",'.repeat(1_000)}`) as CorruptThreadError;
    expect(notJson.answer).toBe('thread t-bad is corrupt: not JSON; it cannot be read or changed until its value is repaired (the server log names the bucket)');
    expect(notJson.message).toMatch(/not JSON \(.+\)/);
  });
});
