/** idempotencyKeyFor: a recorded call keeps the key its tool_call recorded; a new call gets the incarnation's. */
import { describe, expect, it } from 'vitest';
import { idempotencyKeyFor, newIdempotencyKey } from '../../src/agent/ids.js';
import type { NewEvent } from '../../src/thread/events.js';
import { incarnationKeyOf } from '../../src/thread/incarnation.js';
import { threadOf } from '../support/agentHarness.js';

const decision = (callId: string): NewEvent => ({
  type: 'decision',
  data: { callId, step: 1, intent: 'add', args: { a: 1 }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 },
});
const toolCall = (callId: string, idempotencyKey: string, attempt: number): NewEvent => ({ type: 'tool_call', data: { callId, tool: 'add', args: { a: 1 }, idempotencyKey, attempt } });
const result = (callId: string): NewEvent => ({ type: 'tool_result', data: { callId, tool: 'add', result: 2, durationMs: 1 } });

describe('idempotencyKeyFor', () => {
  it('keeps the key a recorded call was given (an older form too), on every attempt, however many events follow', () => {
    const thread = threadOf('t1', 'calc', [
      { type: 'input', data: { input: 'x' } },
      decision('call_2'),
      toolCall('call_2', 't1:call_2', 1),
      { type: 'control', data: { action: 'pause' } },
      { type: 'control', data: { action: 'resume' } },
      toolCall('call_2', 't1:call_2', 2),
    ]);
    expect(idempotencyKeyFor(thread, 'call_2')).toBe('t1:call_2');
  });

  it("gives a call no tool_call recorded the incarnation's key, not an earlier call's", () => {
    const thread = threadOf('t1', 'calc', [{ type: 'input', data: { input: 'x' } }, decision('call_2'), toolCall('call_2', 't1:call_2', 1), result('call_2'), decision('call_5')]);
    expect(idempotencyKeyFor(thread, 'call_5')).toBe(`${incarnationKeyOf(thread)}:call_5`);
    expect(newIdempotencyKey(incarnationKeyOf(thread), 'call_5')).toBe(idempotencyKeyFor(thread, 'call_5'));
  });
});
