import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';

const PASSWORD = 'Correct-Horse-Battery-9';

/** An agent over `create_account`, whose schema checks the password's length, and what the tool received. */
function accounts(options: { needsApproval?: boolean; idempotent?: boolean } = {}) {
  const received: unknown[] = [];
  const createAccount = tool({
    name: 'create_account',
    description: 'creates an account',
    input: z.object({ user: z.string(), password: z.string().min(12) }),
    idempotent: options.idempotent ?? false,
    ...(options.needsApproval ? { needsApproval: true } : {}),
    run: async (args) => {
      received.push(args);
      return { created: args.user };
    },
  });
  const a = agent({ name: 'signup', description: 'signs people up', prompt: 'You are {{agent}}.\n{{tools}}', tools: [createAccount] });
  return { agent: a, received };
}

const CALL: ScriptStep = { intent: 'create_account', args: { user: 'bob', password: PASSWORD } };
const DONE: ScriptStep = { intent: 'done_for_now', args: { message: 'created' } };

describe('a tool argument redactJson would redact (D1)', () => {
  it('with a seal secret, the tool receives the value the model sent and its schema (min 12) passes', async () => {
    const { agent: a, received } = accounts();
    const runtime = createRuntime({ agents: [a], store: createMemoryStore(), model: scriptedModel([CALL, DONE]), sealSecret: 'seal-secret-one' });
    const launched = await runtime.launch('signup', 'go');
    const end = await runtime.settled(launched.id);
    await runtime.close();
    expect(received).toEqual([{ user: 'bob', password: PASSWORD }]);
    expect(end.status).toBe('done');
    expect(end.events.filter((e) => e.type === 'error')).toEqual([]);
  });
});
