import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { tool } from '../../src/agent/tool.js';
import { intent, judge } from '../../src/agent/customStep.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createLogger } from '../../src/logger.js';
import { defineConfig } from '../../src/runtime/config.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { capturingLogger } from '../support/capturingLogger.js';

const PASSWORD = 'Correct-Horse-Battery-9';
const NOTE_KEY = 'sk-NOTEPLANTED1234567890abcd';

/** An agent over `create_account`, whose schema checks the password's length, and what the tool received. */
function accounts(options: { needsApproval?: boolean; idempotent?: boolean; hold?: boolean } = {}) {
  const received: unknown[] = [];
  let started: () => void = () => {};
  const running = new Promise<void>((resolve) => (started = resolve));
  const createAccount = tool({
    name: 'create_account',
    description: 'creates an account',
    input: z.object({ user: z.string(), password: z.string().min(12), note: z.string().optional() }),
    idempotent: options.idempotent ?? false,
    ...(options.needsApproval ? { approval: true } : {}),
    run: async (args, ctx) => {
      received.push(args);
      started();
      // Held until the runtime stops: its process "crashes" mid-call.
      if (options.hold === true && received.length === 1) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      return { created: args.user };
    },
  });
  const a = agent({ name: 'signup', description: 'signs people up', prompt: 'You are {{agent}}.\n{{tools}}', tools: [createAccount], backoff: { initialMs: 1, maxMs: 1, jitter: 0 } });
  return { agent: a, received, running };
}

const CALL: ScriptStep = { intent: 'create_account', args: { user: 'bob', password: PASSWORD } };
const DONE: ScriptStep = { intent: 'done_for_now', args: { message: 'created' } };

function runtimeOf(a: ReturnType<typeof accounts>['agent'], store: ThreadStore, script: ScriptStep[], sealSecret?: string | string[]) {
  const model = scriptedModel(script);
  return { runtime: createRuntime({ agents: [a], store, model, ...(sealSecret === undefined ? {} : { sealSecret }) }), model };
}

/** `store`, whose close (a runtime's, when it closes) leaves it open for the next runtime. */
function shared(store: ThreadStore): ThreadStore {
  return new Proxy(store, { get: (target, key) => (key === 'close' ? async () => {} : Reflect.get(target, key)) });
}

const errorsOf = (events: readonly ThreadEvent[]) => events.flatMap((e) => (e.type === 'error' ? [e.data] : []));

async function launchedRest(runtime: Runtime, input = 'go') {
  const launched = await runtime.launch('signup', input);
  return runtime.settled(launched.id);
}

describe('a tool argument redactJson would redact (D1)', () => {
  it('with a seal secret, the tool receives the value the model sent and its schema (min 12) passes', async () => {
    const { agent: a, received } = accounts();
    const { runtime } = runtimeOf(a, createMemoryStore(), [CALL, DONE], 'seal-secret-one');
    const end = await launchedRest(runtime);
    await runtime.close();
    expect(received).toEqual([{ user: 'bob', password: PASSWORD }]);
    expect(end.status).toBe('done');
    expect(errorsOf(end.events)).toEqual([]);
  });

  it('is sealed in the store (the value never appears there), the rest of a string kept, and the model is shown [REDACTED], never a token', async () => {
    const { agent: a, received } = accounts();
    const store = createMemoryStore();
    const call: ScriptStep = { intent: 'create_account', args: { user: 'bob', password: PASSWORD, note: `use key ${NOTE_KEY} please` } };
    const { runtime, model } = runtimeOf(a, shared(store), [call, DONE], 'seal-secret-one');
    const end = await launchedRest(runtime);
    await runtime.close();
    expect(received).toEqual([{ user: 'bob', password: PASSWORD, note: `use key ${NOTE_KEY} please` }]);
    const stored = JSON.stringify((await store.get(end.id))!.events);
    expect(stored).not.toContain(PASSWORD);
    expect(stored).not.toContain('NOTEPLANTED');
    const decision = end.events.find((e) => e.type === 'decision');
    expect(decision?.type === 'decision' && decision.data.args).toMatchObject({ user: 'bob', password: expect.stringMatching(/^sealed\.v1\.[A-Za-z0-9_-]+$/), note: expect.stringMatching(/^use key sealed\.v1\.[A-Za-z0-9_-]+ please$/) });
    const context = model.requests[1]!.context;
    expect(context).toContain('{"user":"bob","password":"[REDACTED]","note":"use key [REDACTED] please"}');
    expect(context).not.toContain('sealed.v1.');
  });

  it('opens after a restart: an idempotent call interrupted mid-run runs again on a new runtime with the same secret, with the value', async () => {
    const { agent: a, received, running } = accounts({ idempotent: true, hold: true });
    const first = runtimeOf(a, createMemoryStore(), [CALL, DONE], 'seal-secret-one');
    const launched = await first.runtime.launch('signup', 'go');
    await running;
    // The process dies mid-call: what the next one finds is the thread as stored then.
    const store = createMemoryStore();
    await store.create((await first.runtime.get(launched.id))!);
    await first.runtime.close({ drainMs: 0 });
    const next = runtimeOf(a, store, [DONE], 'seal-secret-one');
    await next.runtime.recover();
    const end = await next.runtime.settled(launched.id);
    await next.runtime.close();
    expect(end.status).toBe('done');
    expect(received).toEqual([
      { user: 'bob', password: PASSWORD },
      { user: 'bob', password: PASSWORD },
    ]);
  });

  it('opens after an approval given on another runtime, and a rotated secret (listed after the new one) still opens the old tokens', async () => {
    const { agent: a, received } = accounts({ needsApproval: true });
    const store = shared(createMemoryStore());
    const first = runtimeOf(a, store, [CALL], 'seal-secret-old');
    const waiting = await launchedRest(first.runtime);
    await first.runtime.close();
    expect(errorsOf(waiting.events)).toEqual([]);
    expect(waiting.status).toBe('awaiting_human');
    // People are asked about the call with its secret shown as redacted: neither the value nor a token.
    expect(waiting.pendingRequest?.question).toBe('Approve create_account({"user":"bob","password":"[REDACTED]"})?');
    expect(received).toEqual([]);
    const next = runtimeOf(a, store, [DONE], ['seal-secret-new', 'seal-secret-old']);
    await next.runtime.respond(waiting.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    const end = await next.runtime.settled(waiting.id);
    await next.runtime.close();
    expect(end.status).toBe('done');
    expect(received).toEqual([{ user: 'bob', password: PASSWORD }]);
  });

  it('a token that does not open (the secret changed, the old one not listed) is an error on that call, never run with the token', async () => {
    const { agent: a, received } = accounts({ needsApproval: true });
    const store = shared(createMemoryStore());
    const first = runtimeOf(a, store, [CALL], 'seal-secret-old');
    const waiting = await launchedRest(first.runtime);
    await first.runtime.close();
    const next = runtimeOf(a, store, [DONE], 'seal-secret-new');
    await next.runtime.respond(waiting.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    const end = await next.runtime.settled(waiting.id);
    await next.runtime.close();
    expect(received).toEqual([]);
    const [error] = errorsOf(end.events);
    expect(error).toMatchObject({ kind: 'invalid_args', tool: 'create_account' });
    expect(error!.message).toContain('do not open');
    expect(error!.message).toContain('SWITCHYARD_SEAL_SECRET_PREVIOUS');
  });

  it('without a seal secret the call is not run: an invalid_args error naming the tool, the argument and the fix, recorded redacted; it counts toward escalation', async () => {
    const { agent: a, received } = accounts();
    const store = createMemoryStore();
    const { runtime, model } = runtimeOf(a, shared(store), [CALL, CALL, CALL]);
    const end = await launchedRest(runtime);
    await runtime.close();
    expect(received).toEqual([]);
    expect(end.status).toBe('escalated');
    const errors = errorsOf(end.events);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatchObject({ kind: 'invalid_args', tool: 'create_account', args: { user: 'bob', password: '[REDACTED]' } });
    expect(errors[0]!.message).toMatch(/^create_account was not run: its arguments hold secrets \(password\).*SWITCHYARD_SEAL_SECRET \(or the runtime option sealSecret\)/);
    expect(end.events.some((e) => e.type === 'decision' || e.type === 'tool_call')).toBe(false);
    expect(JSON.stringify((await store.get(end.id))!.events)).not.toContain(PASSWORD);
    expect(model.requests[1]!.context).toContain('create_account was not run: its arguments hold secrets (password)');
  });

  it('a sealSecret that is blank or not a string is refused at creation, naming the item, never its value', () => {
    const { agent: a } = accounts();
    expect(() => runtimeOf(a, createMemoryStore(), [], '  ')).toThrow('sealSecret must be a string that is not blank');
    expect(() => runtimeOf(a, createMemoryStore(), [], ['good-secret', ''])).toThrow('sealSecret item 2 of 2 must be a string that is not blank');
    expect(() => defineConfig({ agents: [a], sealSecret: [] })).toThrow('defineConfig: sealSecret must be a string or a non-empty list of strings');
    expect(defineConfig({ agents: [a], sealSecret: ['new-secret', 'old-secret'] }).sealSecret).toEqual(['new-secret', 'old-secret']);
  });
});

describe('a judge of a call whose arguments are sealed', () => {
  it('reads the arguments as the model and people do, each sealed value [REDACTED], never a token (an LLM judge would send it on)', async () => {
    const judged: unknown[] = [];
    const createAccount = tool({
      name: 'create_account',
      description: 'creates an account',
      input: z.object({ user: z.string(), password: z.string().min(12) }),
      run: async (args) => ({ created: args.user }),
    });
    const policy = judge({ name: 'policy', run: (call, context) => (judged.push(call.args, context.state.pendingCall?.args), { verdict: 'accept' }) });
    const a = agent({ name: 'signup', description: 'signs people up', prompt: 'You are {{agent}}.', tools: [createAccount], afterDecision: [policy] });
    const runtime = createRuntime({ agents: [a], store: createMemoryStore(), model: scriptedModel([CALL, DONE]), sealSecret: 'seal-secret-one' });
    const end = await launchedRest(runtime);
    await runtime.close();
    expect(end.status).toBe('done');
    // Its call, and the call in the state it is given.
    expect(judged).toEqual([{ user: 'bob', password: '[REDACTED]' }, { user: 'bob', password: '[REDACTED]' }]);
  });
});

describe('a sealed value the tool echoes (qa27 security D1)', () => {
  const TOKEN = 'Warehouse-Tok-77889900';
  const echoing = (fail: boolean) =>
    tool({
      name: 'connect',
      description: 'connects to the warehouse',
      input: z.object({ host: z.string(), token: z.string() }),
      run: ({ host, token }, ctx) => {
        ctx.logger.info(`connecting to ${host} with ${token}`);
        if (fail) throw new Error(`connect to ${host} failed: the warehouse rejected ${token}`);
        return `connected to ${host} as ${token}`;
      },
    });
  const CONNECT: ScriptStep = { intent: 'connect', args: { host: 'wh1', token: TOKEN } };

  it.each([
    ['its result', false],
    ['its error', true],
  ])('is redacted from %s, from what the model is shown next and from the log lines of the call', async (_, fail) => {
    const { logger, out } = capturingLogger();
    const a = agent({ name: 'links', description: 'connects', prompt: 'You are {{agent}}.', tools: [echoing(fail)], backoff: { initialMs: 1, maxMs: 1, jitter: 0 } });
    const model = scriptedModel([CONNECT, DONE]);
    const store = createMemoryStore();
    const runtime = createRuntime({ agents: [a], store: shared(store), model, logger, sealSecret: 'seal-secret-one' });
    const launched = await runtime.launch('links', 'go');
    const end = await runtime.settled(launched.id);
    await runtime.close();
    expect(end.status).toBe('done');
    const outcome = end.events.find((e) => e.type === (fail ? 'error' : 'tool_result'));
    expect(JSON.stringify(outcome)).toContain('[REDACTED]');
    expect(JSON.stringify((await store.get(end.id))!.events)).not.toContain(TOKEN);
    expect(model.requests[1]!.context).not.toContain(TOKEN);
    expect(out.text).toContain('connecting to wh1 with [REDACTED]');
    expect(out.text).not.toContain(TOKEN);
  });
});

describe('a sealed value an intent (a step of the author) echoes (qa27 security D1)', () => {
  const TOKEN = 'Intent-Tok-5566778899';
  const connect = (fail: boolean) =>
    intent({
      name: 'connect',
      description: 'connects to the warehouse',
      input: z.object({ host: z.string(), token: z.string() }),
      run: ({ host, token }, context) => {
        context.logger.info(`connecting to ${host} with ${token}`);
        if (fail) throw new Error(`connect to ${host} failed: the warehouse rejected ${token}`);
        return { output: `connected to ${host} as ${token}` };
      },
    });

  it.each([
    ['its output', false],
    ['its error', true],
  ])('is redacted from %s, from what the model is shown next and from the log lines of the step', async (_, fail) => {
    const { logger, out } = capturingLogger();
    const a = agent({ name: 'links', description: 'connects', prompt: 'You are {{agent}}.', tools: [], intents: [connect(fail)], backoff: { initialMs: 1, maxMs: 1, jitter: 0 } });
    const model = scriptedModel([{ intent: 'connect', args: { host: 'wh1', token: TOKEN } }, DONE]);
    const store = createMemoryStore();
    const runtime = createRuntime({ agents: [a], store: shared(store), model, logger, sealSecret: 'seal-secret-one' });
    const launched = await runtime.launch('links', 'go');
    const end = await runtime.settled(launched.id);
    await runtime.close();
    expect(end.status).toBe('done');
    expect(JSON.stringify(end.events.find((e) => e.type === (fail ? 'error' : 'custom')))).toContain('[REDACTED]');
    expect(JSON.stringify((await store.get(end.id))!.events)).not.toContain(TOKEN);
    expect(model.requests[1]!.context).not.toContain(TOKEN);
    expect(out.text).toContain('connecting to wh1 with [REDACTED]');
    expect(out.text).not.toContain(TOKEN);
  });
});

describe('a sealed value with numbers and booleans in it (review: leaves revealed)', () => {
  const connect = tool({
    name: 'connect',
    description: 'connects to the database',
    input: z.object({ secret: z.object({ host: z.string(), port: z.number(), ssl: z.boolean(), password: z.string() }) }),
    run: ({ secret }, ctx) => {
      ctx.logger.info({ port: secret.port, ssl: secret.ssl }, `connecting with ${secret.password}`);
      return `connected to ${secret.host} on ${secret.port}, ssl ${secret.ssl}`;
    },
  });

  it('redacts its strings only: the result keeps its numbers and booleans, and every log line stays JSON', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
        done();
      },
    });
    const a = agent({ name: 'db', description: 'connects', prompt: 'You are {{agent}}.', tools: [connect] });
    const model = scriptedModel([{ intent: 'connect', args: { secret: { host: 'db.internal', port: 5432, ssl: true, password: 'hunter2hunter2' } } }, DONE]);
    const runtime = createRuntime({ agents: [a], store: createMemoryStore(), model, logger: createLogger({ level: 'info', destination }), sealSecret: 'seal-secret-one' });
    const launched = await runtime.launch('db', 'go');
    const end = await runtime.settled(launched.id);
    await runtime.close();
    const result = end.events.find((e) => e.type === 'tool_result');
    expect(result?.type === 'tool_result' ? result.data.result : undefined).toBe('connected to [REDACTED] on 5432, ssl true');
    expect(lines.join('\n')).not.toContain('hunter2hunter2');
    const unparsed = lines.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    expect(unparsed).toEqual([]);
    expect(lines.some((line) => line.includes('"port":5432,"ssl":true'))).toBe(true);
  });
});

describe('sealed arguments a later version of the tool refuses (review: invalid_args not redacted)', () => {
  const TOKEN = 'Warehouse-Tok-778899';
  // The version before took the token as it is; this one parses it as JSON, and JSON.parse quotes its input.
  const versions = (parsed: boolean) =>
    agent({
      name: 'links',
      description: 'connects',
      prompt: 'You are {{agent}}.',
      backoff: { initialMs: 1, maxMs: 1, jitter: 0 },
      tools: [
        tool({
          name: 'connect',
          description: 'connects to the warehouse',
          input: z.object({ host: z.string(), token: parsed ? z.string().transform((t) => JSON.parse(t) as unknown) : z.string() }),
          approval: true,
          run: () => 'connected',
        }),
      ],
    });

  it('records its refusal with what they opened to redacted', async () => {
    const store = shared(createMemoryStore());
    const first = createRuntime({ agents: [versions(false)], store, model: scriptedModel([{ intent: 'connect', args: { host: 'wh1', token: TOKEN } }]), sealSecret: 'seal-secret-one' });
    const waiting = await first.settled((await first.launch('links', 'go')).id);
    await first.close();
    expect(waiting.status).toBe('awaiting_human');
    const next = createRuntime({ agents: [versions(true)], store, model: scriptedModel([DONE]), sealSecret: 'seal-secret-one' });
    await next.respond(waiting.id, { requestId: waiting.pendingRequest!.requestId, approved: true });
    const end = await next.settled(waiting.id);
    await next.close();
    const [error] = errorsOf(end.events);
    expect(error).toMatchObject({ kind: 'invalid_args', tool: 'connect' });
    expect(error!.message).toContain('is not valid JSON');
    expect(error!.message).not.toContain(TOKEN);
  });
});
