import { describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { capturingLogger } from '../support/capturingLogger.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';



const asker = agent({ name: 'asker', description: 'asks the model', prompt: 'You are {{agent}}.\n{{tools}}', tools: [], maxConsecutiveErrors: 2, backoff: { initialMs: 1, jitter: 0 } });

// A key in the endpoint's credentials and query, as a misconfigured base URL may carry them.
const ENDPOINT = 'https://bob:sk-URLKEY-1234567890@models.example.com/v1/chat/completions?api-key=sk-QUERYKEY-0987654321';

function setup(script: ScriptStep[]) {
  const { logger, out } = capturingLogger('info');
  const rt = createRuntime({ agents: [asker], store: createMemoryStore(), model: scriptedModel(script), logger });
  const of = (id: string, msg: string) => out.lines.filter((l) => l.threadId === id && l.msg === msg);
  return { rt, out, of };
}

describe('a model that fails, in the logs', () => {
  it('a refused key (401): one warn for the call (state, kind, status, attempt, endpoint origin and path, no key), and the escalation at warn with its reason', async () => {
    const { rt, out, of } = setup([{ error: { kind: 'http', status: 401, message: 'POST https://models.example.com/v1/chat/completions: 401 bad key', endpoint: ENDPOINT } }]);
    const { id } = await rt.launch('asker', 'hello');
    expect(await rt.settled(id)).toMatchObject({ status: 'escalated' });

    const calls = of(id, 'model call failed');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ level: 40, threadId: id, agent: 'asker', state: 'deciding', kind: 'model_http', status: 401, attempt: 1, endpoint: 'https://models.example.com/v1/chat/completions' });
    // Escalated at once: no retry.
    expect(calls[0]).not.toHaveProperty('retryAt');
    expect(out.text).not.toContain('URLKEY');
    expect(out.text).not.toContain('QUERYKEY');
    expect(out.text).not.toContain('api-key');

    const rests = of(id, 'agent at rest');
    expect(rests).toHaveLength(1);
    expect(rests[0]).toMatchObject({ level: 40, agent: 'asker', status: 'escalated' });
    expect(rests[0]!.reason).toMatch(/^non_retryable_error: not retried: HTTP 401: .*401 bad key/);
    await rt.close();
  });

  it('a network failure (no status): a warn per call with its count and retry time, then the escalation after maxConsecutiveErrors', async () => {
    const failure = { error: { kind: 'http' as const, message: 'model request failed: connect ECONNREFUSED 127.0.0.1:9', endpoint: 'http://127.0.0.1:9/v1/chat/completions' } };
    const { rt, of } = setup([failure, failure]);
    const { id } = await rt.launch('asker', 'hello');
    expect(await rt.settled(id)).toMatchObject({ status: 'escalated' });

    const calls = of(id, 'model call failed');
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({ level: 40, threadId: id, agent: 'asker', state: 'deciding', kind: 'model_http', attempt: 1, endpoint: 'http://127.0.0.1:9/v1/chat/completions' });
    expect(calls[0]).not.toHaveProperty('status');
    expect(Number.isNaN(Date.parse(String(calls[0]!.retryAt)))).toBe(false);
    expect(calls[1]).toMatchObject({ level: 40, attempt: 2 });
    expect(calls[1]).not.toHaveProperty('retryAt');
    expect(String(calls[1]!.err)).toContain('ECONNREFUSED');

    const rests = of(id, 'agent at rest');
    expect(rests).toHaveLength(1);
    expect(rests[0]).toMatchObject({ level: 40, status: 'escalated' });
    expect(rests[0]!.reason).toMatch(/^max_consecutive_errors: 2 errors in a row \(maxConsecutiveErrors\); the last: .*ECONNREFUSED/);
    await rt.close();
  });

  it('a thread that fails (a human stops it after the escalation) rests at error with the reason; a thread that finishes logs no warning', async () => {
    const { rt, out, of } = setup([{ error: { kind: 'http', status: 403, message: 'forbidden' } }, { intent: 'done_for_now', args: { message: 'ok' } }]);
    const { id } = await rt.launch('asker', 'hello');
    const escalated = await rt.settled(id);
    await rt.respond(id, { requestId: escalated.pendingRequest!.requestId, approved: false });
    expect(await rt.settled(id)).toMatchObject({ status: 'failed' });
    const rests = of(id, 'agent at rest');
    expect(rests.map((r) => [r.level, r.status])).toEqual([[40, 'escalated'], [50, 'failed']]);
    expect(rests[1]!.reason).toBe('a human stopped the agent after an escalation');

    const ok = await rt.launch('asker', 'again');
    expect(await rt.settled(ok.id)).toMatchObject({ status: 'done' });
    expect(out.lines.filter((l) => l.threadId === ok.id).map((l) => [l.level, l.msg])).toEqual([[30, 'thread launched'], [30, 'agent at rest']]);
    expect(of(ok.id, 'agent at rest')[0]).not.toHaveProperty('reason');
    await rt.close();
  });
});
