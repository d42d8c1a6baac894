/**
 * The log lines of control and human actions say who, what and why, as the thread's events do: a
 * pause's and a cancel's rest name the action, who asked and the reason; a resume (and a control
 * written to a thread no actor holds) is logged with them; a human's response says who answered and
 * whether it was an approval, a denial or an answer (not the comment's text, only that there is one).
 */
import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel, type ScriptedReply } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';
import { heldPublishTool, publisherModel } from '../support/heldTool.js';

const linesOf = (lines: readonly LogLine[], threadId: string, msg: string) => lines.filter((l) => l.threadId === threadId && l.msg === msg);

describe('the log lines of control and human actions', () => {
  it('say who paused, resumed and cancelled, with the action and the reason', async () => {
    const tools = heldPublishTool();
    const { model } = publisherModel();
    const publisher = agent({ name: 'publisher', description: 'publishes', prompt: 'p', tools: [tools.publish] });
    const { logger, out } = capturingLogger('debug');
    const rt = createRuntime({ agents: [publisher], store: createMemoryStore(), model, logger });
    const { id } = await rt.launch('publisher', 'publish hello');
    await tools.started.promise;
    const paused = rt.pause(id, { by: 'ops', reason: 'maintenance' });
    tools.release.resolve('published');
    expect((await paused).status).toBe('paused');
    expect(linesOf(out.lines, id, 'agent at rest').at(-1)).toMatchObject({ status: 'paused', action: 'pause', by: 'ops', reason: 'maintenance' });

    // No actor holds a paused thread: a cancel is written; its line says so too.
    await rt.cancel(id, { by: 'root', reason: 'on-call: stuck' });
    expect(linesOf(out.lines, id, 'thread controlled').at(-1)).toMatchObject({ agent: 'publisher', action: 'cancel', by: 'root', reason: 'on-call: stuck', status: 'cancelled' });
    await rt.close();
  });

  it('say who resumed, and who answered a request and how, without the comment text', async () => {
    const model = scriptedModel([], {
      whenExhausted: (r: ModelRequest): ScriptedReply =>
        r.context.includes('<human_response') ? { intent: 'done_for_now', args: { message: 'ok' } } : { intent: 'request_human_input', args: { question: 'which?' } },
    });
    const asker = agent({ name: 'asker', description: 'asks', prompt: 'p', tools: [] });
    const { logger, out } = capturingLogger('debug');
    const rt = createRuntime({ agents: [asker], store: createMemoryStore(), model, logger });
    const { id } = await rt.launch('asker', 'go');
    const waiting = await rt.settled(id);
    await rt.pause(id, { by: 'ops' });
    await rt.resume(id, { by: 'ops', reason: 'back from lunch' });
    expect(linesOf(out.lines, id, 'thread controlled').at(-1)).toMatchObject({ action: 'resume', by: 'ops', reason: 'back from lunch', status: 'awaiting_human' });
    await rt.respond(id, { requestId: waiting.pendingRequest!.requestId, answer: 'the blue one', comment: 'secret-ish note', by: 'alice' });
    const responded = linesOf(out.lines, id, 'human responded').at(-1)!;
    expect(responded).toMatchObject({ by: 'alice', response: 'answered', comment: true });
    expect(JSON.stringify(responded)).not.toContain('secret-ish note');
    await rt.settled(id);
    await rt.close();
  });
});
