import { describe, expect, it } from 'vitest';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';

const request = (): ModelRequest => ({ threadId: 'th_1', agent: 'support', system: 's', context: 'c', tools: [], signal: new AbortController().signal });

describe('scriptedModel', () => {
  it('once its script is used up, fails saying so: whose script, and how to give it more (not a bare "script exhausted")', async () => {
    const model = scriptedModel([{ intent: 'done_for_now', args: { message: 'ok' } }], { name: 'support-stand-in' });
    expect((await model.complete(request())).success).toBe(true);
    const exhausted = await model.complete(request());
    expect(exhausted.success).toBe(false);
    const message = exhausted.success ? '' : exhausted.error.message;
    expect(message).toContain('support-stand-in');
    expect(message).toContain('no reply left');
    expect(message).toContain('whenExhausted');
  });

  it('answers whenExhausted, a function of the request, once the script is used up', async () => {
    const model = scriptedModel([], { whenExhausted: ({ context }) => ({ intent: 'echo', args: { context } }) });
    const result = await model.complete(request());
    expect(result).toMatchObject({ success: true, data: { toolCall: { name: 'echo', arguments: JSON.stringify({ context: 'c' }) } } });
  });
});
