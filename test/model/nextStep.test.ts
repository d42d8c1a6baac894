import { describe, expect, it } from 'vitest';
import { parseNextStep } from '../../src/model/nextStep.js';

const base = { usage: { prompt: 1, completion: 1 }, model: 'm' };

describe('parseNextStep: tool call arguments', () => {
  it.each([
    ['a json fence', '```json\n{"amount": 5}\n```'],
    ['a bare fence', '```\n{"amount": 5}\n```'],
    ['a fence on one line, with spaces outside it', '  ```JSON {"amount": 5} ```  '],
  ])('strips %s around the arguments, as it does around a text answer', (_name, raw) => {
    expect(parseNextStep({ ...base, toolCall: { name: 'charge', arguments: raw } })).toEqual({ success: true, data: { intent: 'charge', args: { amount: 5 } } });
  });

  it('quotes the arguments received, bounded, when they are not JSON', () => {
    const parsed = parseNextStep({ ...base, toolCall: { name: 'charge', arguments: `{"amount": 5, "note": "${'x'.repeat(500)}` } });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(parsed.error).toContain('arguments of charge are not valid JSON: "{\\"amount\\": 5, \\"note\\": \\"xxx');
    expect(parsed.error.length).toBeLessThan(300);
  });
});

describe('parseNextStep: answers of reasoning models served without a reasoning parser (QA28 D3, D4)', () => {
  const step = { intent: 'charge', args: { amount: 5 } };
  it.each([
    ['a <think> block before the JSON', '<think>\nThe user wants 5 charged.\n</think>\n\n{"intent":"charge","amount":5}'],
    ['a <think> block before a fenced JSON', '<think>hmm</think>\n```json\n{"intent":"charge","args":{"amount":5}}\n```'],
    ['only the closing </think> (the opening one was in the prompt)', 'The user wants 5 charged.</think>{"intent":"charge","amount":5}'],
    ['prose around one fenced JSON block', 'Sure! Here is my next step:\n```json\n{"intent":"charge","args":{"amount":5}}\n```\nLet me know.'],
  ])('reads the next step of a text answer with %s', (_name, text) => {
    expect(parseNextStep({ ...base, text })).toEqual({ success: true, data: step });
  });

  it('keeps a </think> inside the JSON answer as written', () => {
    const text = '{"intent":"done_for_now","message":"tags such as </think> are kept"}';
    expect(parseNextStep({ ...base, text })).toEqual({ success: true, data: { intent: 'done_for_now', args: { message: 'tags such as </think> are kept' } } });
  });

  it('keeps a </think> inside a fenced JSON answer that prose comes before (review28 item 4)', () => {
    const text = 'Sure:\n```json\n{"intent":"done_for_now","message":"a </think> tag"}\n```';
    expect(parseNextStep({ ...base, text })).toEqual({ success: true, data: { intent: 'done_for_now', args: { message: 'a </think> tag' } } });
  });

  it('still refuses prose with two fenced blocks, which could mean either, quoting the answer', () => {
    const parsed = parseNextStep({ ...base, text: 'Either\n```json\n{"intent":"charge","amount":5}\n```\nor\n```json\n{"intent":"charge","amount":7}\n```' });
    expect(parsed).toMatchObject({ success: false, error: expect.stringContaining('the answer is not valid JSON: "Either') });
  });
});

describe('parseNextStep: double-encoded tool call arguments (QA28 D5)', () => {
  it('reads arguments sent as a JSON string holding the JSON object as that object', () => {
    const raw = JSON.stringify(JSON.stringify({ amount: 5 }));
    expect(parseNextStep({ ...base, toolCall: { name: 'charge', arguments: raw } })).toEqual({ success: true, data: { intent: 'charge', args: { amount: 5 } } });
  });

  it('keeps a JSON string holding no object as the string (the tool schema refuses it, naming why)', () => {
    expect(parseNextStep({ ...base, toolCall: { name: 'charge', arguments: '"five"' } })).toEqual({ success: true, data: { intent: 'charge', args: 'five' } });
  });
});

describe('parseNextStep: <tool_call> blocks in a text answer (Hermes/Qwen template, no server tool parser)', () => {
  const step = { intent: 'charge', args: { amount: 5 } };
  it.each([
    ['one block', '<tool_call>\n{"name": "charge", "arguments": {"amount": 5}}\n</tool_call>'],
    ['a <think> block before it', '<think>\nThe user wants 5 charged.\n</think>\n\n<tool_call>\n{"name": "charge", "arguments": {"amount": 5}}\n</tool_call>'],
    ['prose around it', 'I will charge it now.\n<tool_call>{"name": "charge", "arguments": {"amount": 5}}</tool_call>'],
    ['its arguments encoded twice', '<tool_call>{"name": "charge", "arguments": "{\\"amount\\": 5}"}</tool_call>'],
    ['no closing tag at the end (the server stopped before it)', '<tool_call>\n{"name": "charge", "arguments": {"amount": 5}}\n'],
  ])('reads %s as the tool call it is', (_name, text) => {
    expect(parseNextStep({ ...base, text })).toEqual({ success: true, data: step });
  });

  it('reads a block without arguments as a call without any', () => {
    expect(parseNextStep({ ...base, text: '<tool_call>{"name": "list"}</tool_call>' })).toEqual({ success: true, data: { intent: 'list', args: {} } });
  });

  it('refuses several blocks as it refuses several tool calls, naming them', () => {
    const text = '<tool_call>{"name": "charge", "arguments": {"amount": 5}}</tool_call>\n<tool_call>{"name": "done_for_now", "arguments": {"message": "charged"}}</tool_call>';
    expect(parseNextStep({ ...base, text })).toEqual({ success: false, error: 'answer with exactly one tool call; this answer had 2: charge, done_for_now (none was run)' });
  });

  it('names a block among several that holds no call (unnamed)', () => {
    const text = '<tool_call>{"name": "charge", "arguments": {"amount": 5}}</tool_call><tool_call>oops</tool_call>';
    expect(parseNextStep({ ...base, text })).toEqual({ success: false, error: 'answer with exactly one tool call; this answer had 2: charge, (unnamed) (none was run)' });
  });

  it('refuses a block that is no JSON object with a name, quoting it', () => {
    expect(parseNextStep({ ...base, text: '<tool_call>{"name": "charge", "arguments": {"amount": 5}</tool_call>' })).toEqual({
      success: false,
      error: 'the <tool_call> block is not a JSON object with a "name" and "arguments": "{\\"name\\": \\"charge\\", \\"arguments\\": {\\"amount\\": 5}"',
    });
    expect(parseNextStep({ ...base, text: '<tool_call>{"arguments": {"amount": 5}}</tool_call>' })).toMatchObject({ success: false, error: expect.stringMatching(/^the <tool_call> block is not a JSON object with a "name"/) as unknown });
  });

  it('keeps a <tool_call> inside a JSON answer as written', () => {
    const text = '{"intent":"done_for_now","message":"write <tool_call>{} </tool_call> to call"}';
    expect(parseNextStep({ ...base, text })).toEqual({ success: true, data: { intent: 'done_for_now', args: { message: 'write <tool_call>{} </tool_call> to call' } } });
  });
});

describe('parseNextStep: "args" of a text answer encoded twice or not an object (review28 item 1)', () => {
  it('reads "args" sent as a JSON string holding the object as that object', () => {
    const text = JSON.stringify({ intent: 'charge', args: JSON.stringify({ amount: 5 }) });
    expect(parseNextStep({ ...base, text })).toEqual({ success: true, data: { intent: 'charge', args: { amount: 5 } } });
  });

  it.each([
    ['a number', 5, 'a number'],
    ['a string holding no object', 'five', 'a string'],
    ['an array', [5], 'an array'],
  ])('refuses "args" that is %s instead of running the tool with no arguments', (_name, args, kind) => {
    const parsed = parseNextStep({ ...base, text: JSON.stringify({ intent: 'charge', args }) });
    expect(parsed).toEqual({ success: false, error: `"args" of charge must be a JSON object, not ${kind}` });
  });
});
