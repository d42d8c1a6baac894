import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ModelOutput } from '../../src/model/model.js';
import { parseNextStep } from '../../src/model/nextStep.js';
import { isJson, type Json } from '../../src/thread/events.js';
import { hostileAnswer, jsonObject, outputOf } from './modelAnswerArbitrary.js';

describe('parseNextStep (property)', () => {
  it('never throws on any answer; an error names what was wrong', () => {
    fc.assert(
      fc.property(hostileAnswer, (output) => {
        const parsed = parseNextStep(output);
        if (parsed.success) {
          expect(typeof parsed.data.intent).toBe('string');
          // What it hands on is what a thread can hold: the decision records these args.
          expect(isJson(parsed.data.args)).toBe(true);
        } else {
          expect(parsed.error.length).toBeGreaterThan(0);
          expect(parsed.error).toMatch(/JSON|intent|neither/);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('reads back a step written as a tool call, as {intent, args} or as flat text, fenced or not', () => {
    const intent = fc.string({ minLength: 1, maxLength: 20 });
    // Flat text cannot carry an "intent" or an object "args" among the arguments: leave those out.
    const args = jsonObject.filter((a) => !Object.hasOwn(a, 'intent') && !Object.hasOwn(a, 'args'));
    fc.assert(
      fc.property(intent, args, fc.constantFrom('tool', 'nested', 'flat'), fc.boolean(), (name, a, shape, fenced) => {
        const json = shape === 'nested' ? JSON.stringify({ intent: name, args: a }) : JSON.stringify({ intent: name, ...a });
        const text = fenced ? `\`\`\`json\n${json}\n\`\`\`` : `  ${json}\n`;
        const output: ModelOutput =
          shape === 'tool' ? outputOf({ toolCall: { name, arguments: JSON.stringify(a) } }) : outputOf({ text });
        // JSON has no -0: the arguments come back as JSON carries them.
        const expected = JSON.parse(JSON.stringify(a)) as Json;
        expect(parseNextStep(output)).toEqual({ success: true, data: { intent: name, args: expected } });
      }),
      { numRuns: 300, seed: 8 },
    );
  });

  it('names the broken part: not JSON, not an object, no intent, or the tool whose arguments are broken', () => {
    const notJson = fc.string({ maxLength: 40 }).filter((s) => {
      try {
        JSON.parse(s.trim());
        return false;
      } catch {
        return true;
      }
    });
    fc.assert(
      fc.property(notJson, fc.jsonValue(), fc.string({ minLength: 1, maxLength: 30 }), (text, value, tool) => {
        const bad = parseNextStep(outputOf({ text }));
        // Blank once its fence is dropped: the model said nothing (see the test of empty answers).
        const blank = text.trim().replace(/^```(?:json)?\s*/i, '').replace(/\s*```$/, '') === '';
        expect(bad).toEqual({ success: false, error: blank ? 'the model answered nothing: neither a tool call nor text' : expect.stringContaining('not valid JSON') });
        const call = parseNextStep(outputOf({ toolCall: { name: tool, arguments: `{${text}` } }));
        expect(call).toEqual({ success: false, error: expect.stringContaining(`arguments of ${tool} are not valid JSON`) });
        const parsed = parseNextStep(outputOf({ text: JSON.stringify(value) }));
        const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
        const hasIntent = isObject && typeof (value as Record<string, Json>).intent === 'string' && (value as Record<string, Json>).intent !== '';
        if (!isObject) expect(parsed).toEqual({ success: false, error: 'the answer must be a JSON object with an "intent"' });
        else if (!hasIntent) expect(parsed).toEqual({ success: false, error: 'the answer has no "intent" string' });
        else expect(parsed.success).toBe(true);
      }),
      { numRuns: 200, seed: 9 },
    );
  });

  it('says an empty answer (no tool call, blank text or an empty fence, as a null content comes) is empty, not invalid JSON', () => {
    for (const text of ['', '   ', '\n\t', '```json\n```']) {
      expect(parseNextStep({ text } as ModelOutput)).toEqual({ success: false, error: 'the model answered nothing: neither a tool call nor text' });
    }
  });

  it('refuses arguments a thread cannot hold: nested deeper than 256 levels, or numbers beyond a double', () => {
    fc.assert(
      fc.property(fc.integer({ min: 256, max: 400 }), fc.constantFrom('tool', 'nested', 'flat'), (depth, shape) => {
        const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
        const output =
          shape === 'tool'
            ? outputOf({ toolCall: { name: 'add', arguments: `{"a":1,"b":2,"x":${deep}}` } })
            : outputOf({ text: shape === 'flat' ? `{"intent":"add","a":1,"x":${deep}}` : `{"intent":"add","args":{"x":${deep}}}` });
        const parsed = parseNextStep(output);
        expect(parsed).toEqual({ success: false, error: expect.stringMatching(/^arguments of add .*256 levels/) });
      }),
      { numRuns: 50, seed: 10 },
    );
    expect(parseNextStep(outputOf({ text: '{"intent":"add","a":1e999,"b":2}' }))).toEqual({
      success: false,
      error: expect.stringMatching(/^arguments of add .*finite/),
    });
  });

  it('refuses arguments holding a "__proto__" key at any depth: copying them would turn it into a prototype', () => {
    const nested = fc.array(fc.constantFrom('a', 'b'), { maxLength: 3 });
    fc.assert(
      fc.property(nested, fc.jsonValue({ maxDepth: 1 }), fc.constantFrom('tool', 'nested', 'flat'), (path, value, shape) => {
        let inner = `{"__proto__":${JSON.stringify(value)}}`;
        for (const key of [...path].reverse()) inner = `{"${key}":${inner}}`;
        const output =
          shape === 'tool'
            ? outputOf({ toolCall: { name: 'send', arguments: inner } })
            : outputOf({ text: shape === 'nested' ? `{"intent":"send","args":${inner}}` : `{"intent":"send",${inner.slice(1)}` });
        expect(parseNextStep(output)).toEqual({ success: false, error: expect.stringMatching(/^arguments of send .*"__proto__"/) });
      }),
      { numRuns: 100, seed: 13 },
    );
  });
});
