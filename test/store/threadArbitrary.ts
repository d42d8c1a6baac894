/** fast-check arbitraries of stored threads: stamped events, with awkward text, cut into write batches. */
import fc from 'fast-check';
import type { Json, NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { eventArbitrary } from '../thread/eventArbitrary.js';
import { awkwardString } from './idArbitrary.js';

/** JSON payloads as they come back from a JSON round trip (no `-0`, no `undefined`). */
const jsonPayload: fc.Arbitrary<Json> = fc.oneof(awkwardString, fc.jsonValue({ maxDepth: 2 })).map((value) => JSON.parse(JSON.stringify(value)) as Json);

/** Any event, now and then an input whose payload is awkward text or any JSON. */
const storedEvent: fc.Arbitrary<NewEvent> = fc.oneof(
  { weight: 3, arbitrary: eventArbitrary },
  { weight: 1, arbitrary: jsonPayload.map((input): NewEvent => ({ type: 'input', data: { input } })) },
);

/** An event time: mostly plain ISO strings, now and then anything (the schema takes any string). */
const eventTime: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 1e12 }).map((ms) => new Date(Date.parse('2024-01-01T00:00:00.000Z') + ms).toISOString()) },
  { weight: 1, arbitrary: awkwardString },
);

/** Events with seqs 1..n, cut into the batches that were written together (at least one, maybe empty). */
export const batchesArbitrary: fc.Arbitrary<ThreadEvent[][]> = fc
  .array(fc.array(fc.tuple(storedEvent, eventTime), { maxLength: 4 }), { minLength: 1, maxLength: 6 })
  .map((batches) => {
    let seq = 0;
    return batches.map((batch) => batch.map(([event, at]) => ({ ...event, seq: ++seq, at }) as ThreadEvent));
  });
