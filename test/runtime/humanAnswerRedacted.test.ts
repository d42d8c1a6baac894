/**
 * A human's answer is recorded as every other text of the thread is: the agent's `secrets` and
 * secret-shaped text (an `sk-…` key, a URL's password, an `apiKey=…` pair) redacted, in the answer
 * and in the comment, also in the reason a denied escalation records. The thread moves on from it
 * as from the answer given: the model is asked again, and sees it redacted as it always did.
 */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { REDACTED } from '../../src/context/redact.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

const DECLARED = 'PW-hunter2-XYZ';
const SHAPED = 'sk-PLANTEDMODELKEY1234567890abcdef';
const URL_PASSWORD = 'URLPW-4444';

describe("a human's answer", () => {
  it('is stored with the secrets and secret-shaped text redacted, and the thread goes on from it', async () => {
    const asked: string[] = [];
    const model = scriptedModel([], {
      whenExhausted: (r: ModelRequest): ScriptedReply => {
        asked.push(r.context);
        return r.context.includes('<human_response') ? { intent: 'done_for_now', args: { message: 'ok' } } : { intent: 'request_human_input', args: { question: 'the password?' } };
      },
    });
    const vault = agent({ name: 'vault', description: 'asks', prompt: 'p', tools: [], secrets: [DECLARED] });
    const store = createMemoryStore();
    const rt = createRuntime({ agents: [vault], store, model });
    const { id } = await rt.launch('vault', 'go');
    const waiting = await rt.settled(id);
    await rt.respond(id, {
      requestId: waiting.pendingRequest!.requestId,
      answer: `it is ${DECLARED} and also ${SHAPED}`,
      comment: `at https://ops:${URL_PASSWORD}@db.example.com/x, apiKey=AKV-98765`,
      by: 'root',
    });
    const done = await rt.settled(id);
    expect(done.status).toBe('done');
    const thread = (await store.get(id))!;
    const response = thread.events.find((e) => e.type === 'human_response')!;
    expect(response.data).toEqual({
      requestId: waiting.pendingRequest!.requestId,
      answer: `it is ${REDACTED} and also ${REDACTED}`,
      comment: `at https://ops:***@db.example.com/x, apiKey=${REDACTED}`,
      by: 'root',
    });
    const text = JSON.stringify(thread);
    for (const secret of [DECLARED, SHAPED, URL_PASSWORD, 'AKV-98765']) expect(text).not.toContain(secret);
    expect(asked.at(-1)).toContain(`it is ${REDACTED} and also ${REDACTED}`);
    await rt.close();
  });

  it("keeps a denied escalation's reason free of the comment's secrets", async () => {
    const model = scriptedModel([], { whenExhausted: () => ({ intent: 'request_human_input', args: { question: 'q?' } }) });
    const vault = agent({ name: 'vault', description: 'asks', prompt: 'p', tools: [], secrets: [DECLARED], maxSteps: 3 });
    const store = createMemoryStore();
    const rt = createRuntime({ agents: [vault], store, model });
    const { id } = await rt.launch('vault', 'go');
    let rest = await rt.settled(id);
    // Answer questions until the step budget escalates.
    while (rest.pendingRequest?.kind === 'input') {
      await rt.respond(id, { requestId: rest.pendingRequest.requestId, answer: 'fine' });
      rest = await rt.settled(id);
    }
    expect(rest.pendingRequest?.kind).toBe('escalation');
    const stopped = await rt.respond(id, { requestId: rest.pendingRequest!.requestId, approved: false, comment: `stop: the key ${DECLARED} leaked` });
    const view = await rt.settled(stopped.id);
    expect(view.status).toBe('failed');
    expect(JSON.stringify((await store.get(id))!)).not.toContain(DECLARED);
    // The comment is recorded, redacted, not dropped.
    expect(JSON.stringify((await store.get(id))!)).toContain(`stop: the key ${REDACTED} leaked`);
    await rt.close();
  });
});
