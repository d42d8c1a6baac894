/**
 * The public `renderEvent` renders an answer to an interrupted-call question as `took_effect="…"`
 * only when it knows the question, which is in the thread: without the thread it read
 * `approved="false"` for "it took effect", which a model takes for a refusal (and may call again).
 * So the thread is required, and a JavaScript caller that leaves it out is told so.
 */
import { describe, expect, it } from 'vitest';
import { renderEvent } from '../../src/index.js';
import type { Thread, ThreadEvent } from '../../src/thread/events.js';

const at = '2026-01-01T00:00:00.000Z';
const asked: ThreadEvent = {
  seq: 2,
  at,
  type: 'human_request',
  data: { requestId: 'r1', kind: 'interrupted', question: 'refund(...) was started...', urgency: 'high', format: 'yes_no', callId: 'c1', tool: 'refund', args: {} },
};
const answer: ThreadEvent = { seq: 3, at, type: 'human_response', data: { requestId: 'r1', approved: false, comment: 'it went through' } };
const thread: Thread = { id: 'th_1', agent: 'a', events: [{ seq: 1, at, type: 'input', data: { input: 'go' } }, asked, answer] };

describe('renderEvent', () => {
  it("renders an interrupted call's answer as took_effect with the thread", () => {
    expect(renderEvent(answer, [], thread)).toContain('took_effect="true"');
  });

  it('refuses a call without the thread, naming it, rather than render approved="false"', () => {
    const untyped = renderEvent as (event: ThreadEvent, secrets: readonly string[]) => string | null;
    expect(() => untyped(answer, [])).toThrow(/renderEvent needs the thread/);
  });
});
