/**
 * `ScriptedReply.args` takes any object type (an `interface`, which has no index signature, as
 * well as a type alias or `z.infer`), and is checked at run time to be JSON. The type-level checks
 * (expectTypeOf, `@ts-expect-error`) are checked by `npm run typecheck` (tsconfig.json includes
 * test/): an `@ts-expect-error` whose line compiles fails it. vitest runs the rest.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';

interface RefundArgs {
  orderId: string;
  amount: number;
  note?: string;
}
const refundSchema = z.object({ orderId: z.string(), amount: z.number() });

const request = (): ModelRequest => ({ threadId: 'th_1', agent: 'support', system: 's', context: 'c', tools: [], signal: new AbortController().signal });

describe('ScriptedReply.args (type level)', () => {
  it('takes args typed with an interface, a type alias or z.infer', async () => {
    const fromInterface: RefundArgs = { orderId: 'A-1', amount: 5 };
    const fromSchema: z.infer<typeof refundSchema> = { orderId: 'A-2', amount: 6 };
    expectTypeOf({ intent: 'refund', args: fromInterface }).toExtend<ScriptedReply>();
    expectTypeOf({ intent: 'refund', args: fromSchema }).toExtend<ScriptedReply>();
    const model = scriptedModel([{ intent: 'refund', args: fromInterface }, (): ScriptedReply => ({ intent: 'refund', args: fromSchema })]);
    expect(await model.complete(request())).toMatchObject({ success: true, data: { toolCall: { name: 'refund', arguments: '{"orderId":"A-1","amount":5}' } } });
    expect(await model.complete(request())).toMatchObject({ success: true, data: { toolCall: { name: 'refund', arguments: '{"orderId":"A-2","amount":6}' } } });
  });

  it('refuses args that are not an object', () => {
    // @ts-expect-error -- args are an object of the tool's arguments, not a string
    expectTypeOf({ intent: 'refund', args: 'A-1' }).toExtend<ScriptedReply>();
    // @ts-expect-error -- nor a number
    expectTypeOf({ intent: 'refund', args: 5 }).toExtend<ScriptedReply>();
  });
});
