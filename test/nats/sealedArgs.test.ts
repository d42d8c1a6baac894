import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { eventually, uniqueToken, useNatsTestBed } from './natsTestKit.js';

// On NATS the thread lives in a KV bucket and moves between processes as jobs: a call decided by
// one worker and approved later runs on another, from the thread alone. Its secret is sealed there
// and opens on the other worker, which has the same seal secret.
const bed = useNatsTestBed();
const PASSWORD = 'Correct-Horse-Battery-9';

describe('a sealed tool argument on NATS', () => {
  it('is decided on one worker, sealed in the KV thread, and opened by another worker after the approval', async () => {
    const received: unknown[] = [];
    const createAccount = tool({
      name: 'create_account',
      description: 'creates an account',
      input: z.object({ user: z.string(), password: z.string().min(12) }),
      approval: true,
      run: (args) => {
        received.push(args);
        return 'created';
      },
    });
    const signup = agent({ name: 'signup', description: 'signs people up', prompt: 'You are {{agent}}.\n{{tools}}', tools: [createAccount] });
    const names = { prefix: `sy${uniqueToken()}`, bucket: `threads_${uniqueToken()}` };
    const first = await bed.node({ ...names, agents: [signup], model: scriptedModel([{ intent: 'create_account', args: { user: 'bob', password: PASSWORD } }]), sealSecret: 'seal-secret-nats', processId: 'first' });
    const launched = await first.runtime.launch('signup', 'go');
    const waiting = await eventually(async () => {
      const view = await first.runtime.get(launched.id);
      return view?.status === 'awaiting_human' ? view : undefined;
    }, 20_000, 'the approval request');
    expect(JSON.stringify(waiting.events)).not.toContain(PASSWORD);
    await bed.closeNode(first);

    const second = await bed.node({ ...names, agents: [signup], model: scriptedModel([{ intent: 'done_for_now', args: { message: 'created' } }]), sealSecret: ['seal-secret-new', 'seal-secret-nats'], processId: 'second' });
    await second.runtime.respond(launched.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    const done = await eventually(async () => {
      const view = await second.runtime.get(launched.id);
      return view?.status === 'done' ? view : undefined;
    }, 20_000, 'the thread done');
    expect(received).toEqual([{ user: 'bob', password: PASSWORD }]);
    expect(JSON.stringify(done.events)).not.toContain(PASSWORD);
  });
});
