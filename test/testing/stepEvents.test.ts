/**
 * `switchyard/testing` carries `stepEvents`: a step of the author's (here a before-decision step)
 * unit-tested without a runtime, from the kit a user's tests already import.
 */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { beforeDecision } from '../../src/agent/customStep.js';
import type { Thread } from '../../src/thread/events.js';
import * as testing from '../../src/testing/index.js';

const greeter = agent({
  name: 'greeter',
  description: 'greets',
  prompt: 'You are {{agent}}.\nTools:\n{{tools}}',
  tools: [],
  beforeDecision: [beforeDecision({ name: 'profile', run: ({ input }) => ({ output: { vip: input === 'vip' } }) })],
});

const thread = (input: string): Thread => ({ id: 'th_1', agent: 'greeter', events: [{ seq: 1, at: '2026-01-01T00:00:00.000Z', type: 'input', data: { input } }] });

describe('switchyard/testing: stepEvents', () => {
  it('is exported, and gives the events a before-decision step adds to a thread', async () => {
    expect(typeof testing.stepEvents).toBe('function');
    const events = await testing.stepEvents(greeter, 'profile', thread('vip'));
    expect(events).toEqual([{ type: 'custom', data: expect.objectContaining({ step: 'profile', output: { vip: true } }) }]);
  });
});
