import { describe, expect, it } from 'vitest';
import { parseContext } from '../../src/context/parseContext.js';
import { renderContext } from '../../src/context/renderContext.js';
import { eventSchema, type NewEvent, type Thread } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';

const AT = '2025-01-01T00:00:00.000Z';
const SECRET = 'tok-SUPERSECRET-999';
const agent = { contextBudget: 6000, secrets: [SECRET] as readonly string[] };

function thread(events: readonly NewEvent[]): Thread {
  return { id: 't-ctx', agent: 'finder', events: stampEvents(0, events, AT) };
}

const input: NewEvent = { type: 'input', data: { input: 'find A-1' } };

describe('an error that records the arguments the model sent', () => {
  it('is rendered with them after its message, redacted, in a block that parses back', () => {
    const error: NewEvent = { type: 'error', data: { kind: 'invalid_args', message: 'arguments for lookup are invalid: id: expected string', tool: 'lookup', attempt: 1, retryAt: AT, args: { identifier: 42, token: SECRET } } };
    const { text } = renderContext(agent, thread([input, error]));
    expect(text).toContain('<error kind="invalid_args" tool="lookup" attempt="1">arguments for lookup are invalid: id: expected string\nargs: {"identifier":42,"token":"[REDACTED]"}</error>');
    expect(parseContext(text).at(-1)).toEqual({
      tag: 'error',
      attrs: { kind: 'invalid_args', tool: 'lookup', attempt: '1' },
      body: 'arguments for lookup are invalid: id: expected string\nargs: {"identifier":42,"token":"[REDACTED]"}',
    });
  });

  it('an error without them (an old thread, another kind) is rendered as before', () => {
    const error: NewEvent = { type: 'error', data: { kind: 'invalid_args', message: 'arguments for lookup are invalid', tool: 'lookup', attempt: 1 } };
    expect(renderContext(agent, thread([input, error])).text).toContain('<error kind="invalid_args" tool="lookup" attempt="1">arguments for lookup are invalid</error>');
  });

  it('the event schema keeps the field (any JSON value) and still reads an error without it', () => {
    const [withArgs, without] = stampEvents(0, [
      { type: 'error', data: { kind: 'unknown_intent', message: 'unknown intent "x"', attempt: 1, args: { id: 'A-1' } } },
      { type: 'error', data: { kind: 'invalid_args', message: 'bad', attempt: 2 } },
    ], AT);
    expect(eventSchema.parse(withArgs)).toMatchObject({ data: { args: { id: 'A-1' } } });
    expect(eventSchema.parse({ ...withArgs!, data: { ...withArgs!.data, args: '{"id":"A-1…' } })).toMatchObject({ data: { args: '{"id":"A-1…' } });
    expect(eventSchema.parse(without)).not.toHaveProperty('data.args');
  });
});
