/** fast-check arbitraries of what a model may answer: well-formed steps, broken JSON and hostile values. */
import fc from 'fast-check';
import type { ModelOutput } from '../../src/model/model.js';
import type { Json } from '../../src/thread/events.js';

/** A model output with the given tool call or text (fixed usage and model name). */
export function outputOf(part: Pick<ModelOutput, 'toolCall' | 'text'>): ModelOutput {
  return { ...part, usage: { prompt: 1, completion: 1 }, model: 'm' };
}

/** A JSON object (the shape of a step's arguments). */
export const jsonObject: fc.Arbitrary<Record<string, Json>> = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, {
  maxKeys: 5,
});

/** Intents: the calculator's and the human tools', unknown ones, and odd strings. */
export const intentArbitrary: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom('add', 'done_for_now', 'request_human_input'), weight: 4 },
  fc.constantFrom('divide', 'nope', '', '__proto__', 'constructor', 'toString'),
  fc.string({ maxLength: 30 }),
  fc.string({ minLength: 300, maxLength: 600 }),
);

/** JSON nested `depth` levels deep (arrays in arrays). */
const deepJson = fc.integer({ min: 250, max: 320 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`);
/** JSON texts that are valid but hold something a thread cannot: deep nesting, a number beyond a double. */
const hostileValue = fc.oneof(deepJson, fc.constantFrom('1e999', '-1e400'));

/** Argument texts: arbitrary strings, JSON of any value, objects holding a hostile value. */
const argumentsText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  jsonObject.map((v) => JSON.stringify(v)),
  fc.record({ a: fc.integer(), b: fc.integer() }).map((v) => JSON.stringify(v)),
  hostileValue.map((v) => `{"a":1,"b":2,"x":${v}}`),
  fc.constant(''),
);

/** A text answer: free text, JSON steps in either shape (fenced or not), hostile JSON. */
const textAnswer: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 80, unit: 'grapheme' }),
  fc.string({ minLength: 300, maxLength: 600 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.tuple(intentArbitrary, jsonObject).map(([intent, args]) => JSON.stringify({ intent, ...args })),
  fc.tuple(intentArbitrary, jsonObject).map(([intent, args]) => JSON.stringify({ intent, args })),
  fc.tuple(intentArbitrary, argumentsText).map(([intent, args]) => `{"intent":${JSON.stringify(intent)},"args":${args}}`),
  fc.tuple(intentArbitrary, hostileValue).map(([intent, v]) => `{"intent":${JSON.stringify(intent)},"message":"m","a":1,"b":2,"x":${v}}`),
  fc.record({ a: fc.integer(), b: fc.integer() }).map((args) => JSON.stringify({ intent: 'add', ...args })),
  fc.string({ maxLength: 20 }).map((message) => JSON.stringify({ intent: 'done_for_now', message })),
);

/** Anything a model may answer: a tool call, a text (maybe fenced), or neither. */
export const hostileAnswer: fc.Arbitrary<ModelOutput> = fc.oneof(
  fc.tuple(intentArbitrary, argumentsText).map(([name, args]) => outputOf({ toolCall: { name, arguments: args } })),
  fc.tuple(textAnswer, fc.boolean()).map(([text, fenced]) => outputOf({ text: fenced ? `\`\`\`json\n${text}\n\`\`\`` : text })),
  fc.constant(outputOf({})),
);
