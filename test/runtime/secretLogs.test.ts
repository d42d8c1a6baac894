import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { beforeDecision } from '../../src/agent/customStep.js';
import { tool } from '../../src/agent/tool.js';
import { capturingLogger, type LogLine } from '../support/capturingLogger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createAgentActor, whenSettled } from '../../src/runtime/agentActor.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { createThread, until } from '../support/agentHarness.js';

// Not secret-shaped (no sk- prefix, no Bearer): only the agent's declaration makes it a secret.
const SECRET = 'plum-AGENT-SECRET-4471';
const MARK = '[REDACTED]';




const charge = tool({
  name: 'charge',
  description: 'charges the card',
  input: z.object({ amount: z.number() }),
  run: ({ amount }, ctx) => {
    ctx.logger.info({ apiKey: SECRET, note: `using ${SECRET}`, nested: { deep: [`key ${SECRET}`] }, amount }, `charging with ${SECRET}`);
    ctx.logger.info('formatted %s', SECRET);
    ctx.logger.warn({ err: new Error(`declined for ${SECRET}`) }, 'card declined');
    ctx.logger.error(new Error(`bare error with ${SECRET}`));
    ctx.logger.child({ card: SECRET }).info('child logger');
    throw new Error(`charge failed for ${SECRET}`);
  },
});

const payer = agent({
  name: 'payer',
  description: 'pays',
  prompt: 'You are {{agent}}.\n{{tools}}',
  tools: [charge],
  secrets: [SECRET],
  backoff: { initialMs: 1, jitter: 0 },
  prefetch: [
    {
      name: 'account',
      run: ({ logger }) => {
        logger.info({ lookup: SECRET }, `prefetch with ${SECRET}`);
        return { ok: true };
      },
    },
  ],
  beforeDecision: [
    beforeDecision({
      name: 'audit',
      when: (_thread, state) => state.steps === 0,
      run: ({ logger }) => {
        logger.info({ audit: SECRET }, `step with ${SECRET}`);
        return {};
      },
    }),
  ],
});

describe("an agent's declared secrets in the logs", () => {
  it('are redacted from what its tool, prefetch and steps log (fields, nested values, messages, errors, bindings) and from the runtime’s own lines', async () => {
    const { logger, out } = capturingLogger('trace');
    const model = scriptedModel([
      { error: { kind: 'http', status: 500, message: `upstream echoed ${SECRET}` } },
      { intent: 'charge', args: { amount: 5 } },
      { intent: 'done_for_now', args: { message: 'could not charge' } },
    ]);
    const rt = createRuntime({ agents: [payer], store: createMemoryStore(), model, logger });
    const { id } = await rt.launch('payer', 'pay the bill');
    const view = await rt.settled(id);
    await rt.close();

    // The run went where the test needs it: the tool ran, logged and threw.
    expect(view.status).toBe('done');
    expect(view.events.some((e) => e.type === 'error' && e.data.kind === 'tool_error')).toBe(true);
    expect(view.events.some((e) => e.type === 'error' && e.data.kind === 'model_http')).toBe(true);

    const line = (msg: string): LogLine => {
      const found = out.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith(msg));
      expect(found, `a log line "${msg}…"`).toBeDefined();
      return found!;
    };
    expect(line('charging with')).toMatchObject({ msg: `charging with ${MARK}`, note: `using ${MARK}`, nested: { deep: [`key ${MARK}`] }, apiKey: MARK, amount: 5 });
    expect(line('formatted').msg).toBe(`formatted ${MARK}`);
    expect(line('card declined').err!.message).toBe(`declined for ${MARK}`);
    expect(line('card declined').err!.stack).toContain(`declined for ${MARK}`);
    expect(line('bare error with').err!.message).toBe(`bare error with ${MARK}`);
    expect(line('child logger')).toMatchObject({ card: MARK });
    expect(line('prefetch with')).toMatchObject({ msg: `prefetch with ${MARK}`, lookup: MARK });
    expect(line('step with')).toMatchObject({ msg: `step with ${MARK}`, audit: MARK });
    // Nowhere in any line: not the tool's, not the runtime's own (the tool's error, the model's).
    expect(out.text).not.toContain(SECRET);
  });

  it("are redacted from the runtime's lines about a step that failed with them in its error (a store's)", async () => {
    const { logger, out } = capturingLogger('trace');
    const clock = new SimulatedClock();
    clock.set(Date.parse('2026-01-01T00:00:00Z'));
    const inner = createMemoryStore();
    let failed = 0;
    // The first append after the launch fails, its error naming the secret.
    const store: ThreadStore = {
      ...inner,
      append: (...args) => (failed++ === 0 ? Promise.reject(new Error(`write refused for ${SECRET}`)) : inner.append(...args)),
    };
    const quiet = agent({ name: 'payer', description: 'pays', prompt: 'p', tools: [], secrets: [SECRET] });
    const model = scriptedModel([], { whenExhausted: { intent: 'done_for_now', args: { message: 'paid' } } });
    const rt = createRuntime({ agents: [quiet], store, model, clock, logger });
    const { id } = await rt.launch('payer', 'pay');
    const settled = rt.settled(id);
    await until(() => out.lines.some((l) => l.msg === 'a step failed: starting the thread again after a backoff'));
    const retry = out.lines.find((l) => l.msg === 'a step failed: starting the thread again after a backoff')!;
    clock.increment(retry.delayMs as number);
    expect(await settled).toMatchObject({ status: 'done', output: 'paid' });
    await rt.close();

    expect(out.lines.find((l) => l.msg === 'agent actor stopped early')).toMatchObject({ reason: `step failed: write refused for ${MARK}` });
    expect(retry).toMatchObject({ reason: `step failed: write refused for ${MARK}` });
    expect(out.text).not.toContain(SECRET);
  });

  it('are redacted from what its tool logs in an actor started on its own (createAgentActor)', async () => {
    const { logger, out } = capturingLogger('trace');
    const store = createMemoryStore();
    const thread = await createThread(store, { agent: payer.name, input: 'pay' });
    const model = scriptedModel([{ intent: 'charge', args: { amount: 5 } }, { intent: 'done_for_now', args: { message: 'could not charge' } }]);
    const settled = await whenSettled(createAgentActor({ agent: payer, thread, model, store, logger }));
    expect(settled.status).toBe('done');
    expect(out.lines.find((l) => l.msg?.startsWith('charging with'))).toMatchObject({ msg: `charging with ${MARK}`, note: `using ${MARK}` });
    expect(out.text).not.toContain(SECRET);
  });
});

describe('the log lines of an agent without declared secrets (qa25 D7)', () => {
  const MODEL_KEY = 'gwlive-ABCDEFGH123456';
  const debug = tool({
    name: 'debug',
    description: 'logs what it has',
    input: z.object({}),
    run: (_args, ctx) => {
      ctx.logger.warn({ debugInfo: { deep: { authorization: 'Bearer nestedBEARER12345', key: MODEL_KEY, password: 'PW-hunter2-XYZ' } } }, 'tool debug');
      throw new Error('request to https://u:URLPW-4444@api.example.com/?token=QTOK-3333 failed, apiKey=AKV-2222');
    },
  });
  const plain = agent({ name: 'plain', description: 'no secrets declared', prompt: 'p', tools: [debug], backoff: { initialMs: 1, jitter: 0 } });
  const script = () => [{ intent: 'debug', args: {} }, { intent: 'done_for_now', args: { message: 'ok' } }];
  /** A scripted model that knows its key, as `createOpenAIModel` does (not enumerable). */
  const keyed = () => Object.defineProperty(scriptedModel(script()), 'secrets', { value: [MODEL_KEY], enumerable: false });

  it('have secret shapes, secret-named fields at any depth and the model key redacted, through the runtime', async () => {
    const { logger, out } = capturingLogger('trace');
    const rt = createRuntime({ agents: [plain], store: createMemoryStore(), model: keyed(), logger });
    const { id } = await rt.launch('plain', 'go');
    expect((await rt.settled(id)).status).toBe('done');
    await rt.close();
    expect(out.lines.find((l) => l.msg === 'tool debug')).toMatchObject({ debugInfo: { deep: { authorization: MARK, key: MARK, password: MARK } } });
    expect(out.lines.find((l) => l.msg === 'tool call failed')).toMatchObject({ err: expect.stringContaining(`https://u:***@api.example.com/?token=*** failed, apiKey=${MARK}`) });
    for (const secret of ['nestedBEARER', MODEL_KEY, 'hunter2', 'URLPW', 'QTOK', 'AKV-2222']) expect(out.text).not.toContain(secret);
  });

  it('have them redacted in an actor started on its own (createAgentActor)', async () => {
    const { logger, out } = capturingLogger('trace');
    const store = createMemoryStore();
    const thread = await createThread(store, { agent: plain.name, input: 'go' });
    expect((await whenSettled(createAgentActor({ agent: plain, thread, model: keyed(), store, logger }))).status).toBe('done');
    for (const secret of ['nestedBEARER', MODEL_KEY, 'hunter2', 'URLPW', 'QTOK', 'AKV-2222']) expect(out.text).not.toContain(secret);
  });
});
