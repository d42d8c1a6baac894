import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { branchStep, codeStep, FINISH, pipeline } from '../../src/pipeline/pipeline.js';
import { pipelineCursor } from '../../src/pipeline/pipelineCursor.js';
import type { Json, NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';

const linear = pipeline({
  name: 'linear',
  description: 'three steps in order',
  input: z.object({}),
  output: z.unknown(),
  steps: [codeStep({ name: 'a', run: () => 1 }), codeStep({ name: 'b', run: () => 2 }), codeStep({ name: 'c', run: () => 3 })],
  finish: () => null,
});
const looping = pipeline({
  name: 'looping',
  description: 'a, then back to a once',
  input: z.object({}),
  output: z.unknown(),
  steps: [codeStep({ name: 'a', run: () => 1 }), branchStep({ name: 'again', choose: () => 'a' })],
  finish: () => null,
});

const call = (n: number, tool: string, attempt = 1): NewEvent => ({ type: 'tool_call', data: { callId: `step_${n}`, tool, args: {}, idempotencyKey: `t:step_${n}`, attempt } });
const result = (n: number, tool: string, value: Json = null): NewEvent => ({ type: 'tool_result', data: { callId: `step_${n}`, tool, result: value, durationMs: 0 } });
const log = (...events: NewEvent[]): ThreadEvent[] => [...stampEvents(0, [{ type: 'input', data: { input: {} } }, ...events], '2025-01-01T00:00:00.000Z')];

describe('pipelineCursor: where a run is, from its log alone', () => {
  it('reads a linear log written before branches existed the same way (step_<n> per step, in order)', () => {
    expect(pipelineCursor(linear, { events: log() }).next).toMatchObject({ kind: 'step', index: 0, callId: 'step_1', visit: 1, calls: [] });
    const two = pipelineCursor(linear, { events: log(call(1, 'a'), result(1, 'a', 1), call(2, 'b'), result(2, 'b', 2)) });
    expect(two.next).toMatchObject({ kind: 'step', index: 2, callId: 'step_3', visit: 1 });
    expect(two.results).toEqual({ a: 1, b: 2 });
    // A run journaled without its result goes on as the same call.
    const open = pipelineCursor(linear, { events: log(call(1, 'a'), result(1, 'a', 1), call(2, 'b'), call(2, 'b', 2)) });
    expect(open.next).toMatchObject({ kind: 'step', index: 1, callId: 'step_2', calls: [{ data: { attempt: 1 } }, { data: { attempt: 2 } }] });
    const all = pipelineCursor(linear, { events: log(call(1, 'a'), result(1, 'a'), call(2, 'b'), result(2, 'b'), call(3, 'c'), result(3, 'c')) });
    expect(all.next).toEqual({ kind: 'finish' });
  });

  it("follows a branch's recorded choice, counts visits, and reports a choice the definition lost", () => {
    const back = pipelineCursor(looping, { events: log(call(1, 'a'), result(1, 'a', 1), call(2, 'again'), result(2, 'again', 'a')) });
    expect(back.next).toMatchObject({ kind: 'step', index: 0, callId: 'step_3', visit: 2 });
    expect(back.runs.map((r) => r.step)).toEqual(['a', 'again']);
    const done = pipelineCursor(looping, { events: log(call(1, 'a'), result(1, 'a'), call(2, 'again'), result(2, 'again', FINISH)) });
    expect(done.next).toEqual({ kind: 'finish' });
    const lost = pipelineCursor(looping, { events: log(call(1, 'a'), result(1, 'a'), call(2, 'again'), result(2, 'again', 'b')) });
    expect(lost.next).toEqual({ kind: 'unknown', name: 'b' });
  });

  it('is memoized per events array, and sees events appended to that array in place', () => {
    const events = log(call(1, 'a'));
    const first = pipelineCursor(linear, { events });
    expect(pipelineCursor(linear, { events })).toBe(first);
    events.push(...stampEvents(2, [result(1, 'a', 1)], '2025-01-01T00:00:00.000Z'));
    expect(pipelineCursor(linear, { events }).next).toMatchObject({ kind: 'step', index: 1, callId: 'step_2' });
  });
});
