/**
 * `switchyard delete <id...>` and `switchyard prune --ended-before <cutoff>`, run in this process
 * against a server over a memory store filled with threads of known ages.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { runCliHere, type CliRun } from '../support/inProcessCli.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { threadOf } from '../support/agentHarness.js';
import { publishCallStarted } from '../support/heldTool.js';
import { echo } from '../server/harness.js';

const DAY = 86_400_000;
const input = (parentId?: string): NewEvent => ({ type: 'input', data: { input: 'x', ...(parentId === undefined ? {} : { source: { kind: 'pipeline', parentId } }) } });
const DONE: NewEvent[] = [input(), { type: 'final', data: { output: 'ok' } }];
const FAILED: NewEvent[] = [input(), { type: 'failed', data: { reason: 'broke' } }];
const CANCELLED: NewEvent[] = [input(), { type: 'control', data: { action: 'cancel' } }];
const RUNNING: NewEvent[] = [input()];
/** Cancelled while its call `publish` ran in another process, which never recorded its outcome. */
const unrecorded = (id: string): NewEvent[] => [...publishCallStarted(id), { type: 'control', data: { action: 'cancel' } }];
/** The warning a deletion of such a thread prints. */
const warning = (id: string): string =>
  `warning: ${id} was cancelled while publish (call c1) ran, and that call's outcome was never recorded: it may have taken effect; check with its idempotency key ${id}:c1 (the deletion removed the thread's record of it)\n`;

let store: ThreadStore;
let runtime: Runtime;
let server: HttpServer;
/** The threads the server was asked to read (`GET /threads/:id`). */
let read: string[];

beforeEach(async () => {
  store = createMemoryStore();
  runtime = createRuntime({ agents: [calculator, echo], store, model: scriptedModel([]) });
  read = [];
  server = await startHttpServer({ ...runtime, get: (id) => (read.push(id), runtime.get(id)) }, { port: 0, token: 'tok' });
});

afterEach(async () => {
  await server.close();
  await runtime.close();
});

/** `switchyard <args> --url <server> --token tok`: its exit code and output. */
function cli(...args: string[]): Promise<CliRun> {
  return runCliHere([...args, '--url', server.url, '--token', 'tok']);
}

const ago = (days: number): number => Date.now() - days * DAY;
const exists = async (id: string): Promise<boolean> => (await store.get(id)) !== undefined;

describe('switchyard delete', () => {
  it('deletes each thread that ended, one line per id; says why for the others and exits 1', async () => {
    await store.create(threadOf('t1', 'calculator', DONE));
    await store.create(threadOf('t2', 'calculator', RUNNING));
    await store.create(threadOf('t3', 'calculator', CANCELLED));

    const result = await cli('delete', 't1', 't2', 'nope', 't3');

    expect(result.code).toBe(1);
    expect(result.stdout.split('\n').filter(Boolean)).toEqual(['deleted t1', 'deleted t3']);
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([
      'error: t2 not deleted: thread t2 is running: it has not ended; cancel it first',
      'error: nope not deleted: thread not found: nope',
    ]);
    expect([await exists('t1'), await exists('t2'), await exists('t3')]).toEqual([false, true, false]);
  });

  it('exits 0 when every id was deleted', async () => {
    await store.create(threadOf('t1', 'calculator', FAILED));
    expect(await cli('delete', 't1')).toEqual({ code: 0, stdout: 'deleted t1\n', stderr: '' });
  });

  it('--json prints { deleted, failed } with each failure\'s status and error', async () => {
    await store.create(threadOf('t1', 'calculator', DONE));
    await store.create(threadOf('t2', 'calculator', RUNNING));
    const result = await cli('delete', 't1', 't2', '--json');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ deleted: ['t1'], failed: [{ id: 't2', status: 409, error: 'thread t2 is running: it has not ended; cancel it first' }] });
  });

  it("warns of a call whose outcome the thread's cancel left unrecorded, from the DELETE's answer: it reads no thread first", async () => {
    await store.create(threadOf('t1', 'publisher', unrecorded('t1'), ago(40)));
    await store.create(threadOf('t2', 'calculator', DONE));

    expect(await cli('delete', 't1', 't2')).toEqual({ code: 0, stdout: 'deleted t1\ndeleted t2\n', stderr: warning('t1') });
    expect(read).toEqual([]);
    expect([await exists('t1'), await exists('t2')]).toEqual([false, false]);
  });

  // QA28 qapipe D3: `deleted <pipeline>` and nothing more left a new user with the pipeline's
  // children, unaware; the DELETE's answer names them (still no thread read first).
  it("says of a pipeline deleted that its children stay, naming them and how to delete them", async () => {
    const delegation = (seq: number, step: string): NewEvent => ({ type: 'tool_call', data: { callId: `step_${seq}`, tool: step, args: { threadId: `p1--${step}`, agent: 'calculator', input: 'x' }, idempotencyKey: `p1:step_${seq}`, attempt: 1 } });
    const result = (step: string): NewEvent => ({ type: 'tool_result', data: { callId: `step_${step === 'a' ? 1 : 2}`, tool: step, result: 'ok', durationMs: 1 } });
    await store.create(threadOf('p1', 'flow', [input(), delegation(1, 'a'), result('a'), delegation(2, 'b'), result('b'), { type: 'final', data: { output: 'ok' } }]));
    await store.create(threadOf('p1--a', 'calculator', [input('p1'), { type: 'final', data: { output: 'ok' } }]));
    await store.create(threadOf('p1--b', 'calculator', [input('p1'), { type: 'final', data: { output: 'ok' } }]));

    const deleted = await cli('delete', 'p1');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe('deleted p1\n');
    expect(deleted.stderr).toBe(`note: p1 was a pipeline: its child threads p1--a, p1--b stay; delete them on their own: switchyard delete p1--a p1--b --url ${server.url}\n`);
    expect(read).toEqual([]);
    expect([await exists('p1--a'), await exists('p1--b')]).toEqual([true, true]);
  });

  it('names none of the children deleted before it in the same command (nor any note when none is left)', async () => {
    const delegation = (seq: number, step: string): NewEvent => ({ type: 'tool_call', data: { callId: `step_${seq}`, tool: step, args: { threadId: `p1--${step}`, agent: 'calculator', input: 'x' }, idempotencyKey: `p1:step_${seq}`, attempt: 1 } });
    await store.create(threadOf('p1', 'flow', [input(), delegation(1, 'a'), delegation(2, 'b'), { type: 'final', data: { output: 'ok' } }]));
    await store.create(threadOf('p1--a', 'calculator', [input('p1'), { type: 'final', data: { output: 'ok' } }]));
    await store.create(threadOf('p1--b', 'calculator', [input('p1'), { type: 'final', data: { output: 'ok' } }]));

    const deleted = await cli('delete', 'p1--a', 'p1--b', 'p1');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe('deleted p1--a\ndeleted p1--b\ndeleted p1\n');
    expect(deleted.stderr).toBe('');
  });

  it('names none of the children the same command deletes after it (the pipeline listed first)', async () => {
    const delegation = (seq: number, step: string): NewEvent => ({ type: 'tool_call', data: { callId: `step_${seq}`, tool: step, args: { threadId: `p1--${step}`, agent: 'calculator', input: 'x' }, idempotencyKey: `p1:step_${seq}`, attempt: 1 } });
    await store.create(threadOf('p1', 'flow', [input(), delegation(1, 'a'), delegation(2, 'b'), { type: 'final', data: { output: 'ok' } }]));
    await store.create(threadOf('p1--a', 'calculator', [input('p1'), { type: 'final', data: { output: 'ok' } }]));
    await store.create(threadOf('p1--b', 'calculator', [input('p1'), { type: 'final', data: { output: 'ok' } }]));

    const deleted = await cli('delete', 'p1', 'p1--a');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe('deleted p1\ndeleted p1--a\n');
    expect(deleted.stderr).toBe(`note: p1 was a pipeline: its child threads p1--b stay; delete them on their own: switchyard delete p1--b --url ${server.url}\n`);
  });

  it('--json names the calls left unrecorded as unrecordedCalls, and still warns on stderr', async () => {
    await store.create(threadOf('t1', 'publisher', unrecorded('t1'), ago(40)));
    await store.create(threadOf('t2', 'calculator', DONE));
    const result = await cli('delete', 't1', 't2', '--json');
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(warning('t1'));
    expect(JSON.parse(result.stdout)).toEqual({ deleted: ['t1', 't2'], failed: [], unrecordedCalls: [{ id: 't1', callId: 'c1', tool: 'publish', idempotencyKey: 't1:c1' }] });
  });

  it('refuses an id that is not one before asking the server (usage, exit 2)', async () => {
    const result = await cli('delete', 'a b');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('a b');
  });
});

describe('switchyard prune', () => {
  /** Old ended threads of every kind, and those prune must leave. */
  async function fill(): Promise<void> {
    await store.create(threadOf('old-done', 'calculator', DONE, ago(60)));
    await store.create(threadOf('old-failed', 'calculator', FAILED, ago(50)));
    await store.create(threadOf('old-cancelled', 'echo', CANCELLED, ago(40)));
    await store.create(threadOf('new-done', 'calculator', DONE, ago(1)));
    await store.create(threadOf('old-running', 'calculator', RUNNING, ago(90)));
    // An old child that ended, of a pipeline still running: it may still need the result.
    await store.create(threadOf('pipe', 'calculator', RUNNING, ago(70)));
    await store.create(threadOf('pipe-child', 'calculator', [input('pipe'), { type: 'final', data: { output: 'ok' } }], ago(65)));
  }

  it('deletes the ended threads last updated before the cutoff, skips those still needed, and says how many', async () => {
    await fill();
    const result = await cli('prune', '--ended-before', '30d');
    expect(result.code).toBe(0);
    // One line per thread deleted (qa25-ops D12), in the walk's order, then the count.
    expect(result.stdout.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^deleted old-done \(calculator, done, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)$/),
      expect.stringMatching(/^deleted old-failed \(calculator, failed, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)$/),
      expect.stringMatching(/^deleted old-cancelled \(echo, cancelled, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)$/),
      // In local time, as show, threads and launch print times (qa26-timers D6).
      expect.stringMatching(/^deleted 3 threads that ended before \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}; skipped 1 \(changed meanwhile, or its pipeline has not ended\)$/),
    ]);
    expect(result.stderr).toBe('skipped pipe-child: thread pipe-child belongs to pipeline pipe, which is running and may still need its result; delete it once pipe has ended\n');
    const left = (await store.list({ limit: 100 })).map((s) => s.id).sort();
    expect(left).toEqual(['new-done', 'old-running', 'pipe', 'pipe-child']);
  });

  it('--agent narrows it to one agent; an ISO date is a cutoff too', async () => {
    await fill();
    const cutoff = new Date(ago(45)).toISOString();
    const result = await cli('prune', '--ended-before', cutoff, '--agent', 'calculator', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ cutoff, dryRun: false, deleted: ['old-done', 'old-failed'], skipped: [{ id: 'pipe-child', status: 409, error: expect.stringContaining('pipeline pipe') }], failed: [] });
    expect(result.stderr).toBe('');
    expect(await exists('old-cancelled')).toBe(true);
  });

  it('--agent naming no agent the server has still prunes its stored threads (an agent removed from the project leaves them), saying so on stderr with the agents it has', async () => {
    await fill();
    await store.create(threadOf('gone-done', 'retired', DONE, ago(60)));
    await store.create(threadOf('gone-new', 'retired', DONE, ago(1)));
    const note = 'note: no agent or pipeline named retired is served (the server has calculator, echo); its stored threads are pruned all the same\n';

    const dry = await cli('prune', '--ended-before', '30d', '--agent', 'retired', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stderr).toBe(note.replace('pruned', 'listed'));
    expect(dry.stdout).toMatch(/^would delete gone-done \(retired, done, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)\nwould delete 1 thread that ended before /);

    const json = await cli('prune', '--ended-before', '30d', '--agent', 'retired', '--json');
    expect(json.code).toBe(0);
    expect(json.stderr).toBe(note);
    expect(JSON.parse(json.stdout)).toMatchObject({ deleted: ['gone-done'], skipped: [], failed: [] });
    expect([await exists('gone-done'), await exists('gone-new'), await exists('old-done')]).toEqual([false, true, true]);
  });

  it("warns of each thread deleted whose cancel left a call's outcome unrecorded, as delete does; --json names those calls", async () => {
    await fill();
    await store.create(threadOf('old-unrecorded', 'publisher', unrecorded('old-unrecorded'), ago(45)));
    const result = await cli('prune', '--ended-before', '30d');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^deleted old-unrecorded \(publisher, cancelled, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)$/m);
    expect(result.stdout).toMatch(/\ndeleted 4 threads that ended before [^\n]+\n$/);
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^skipped pipe-child: /), warning('old-unrecorded').trimEnd()]);
    expect(read).toEqual([]);

    await store.create(threadOf('again', 'publisher', unrecorded('again'), ago(45)));
    const json = await cli('prune', '--ended-before', '30d', '--json');
    expect(json.code).toBe(0);
    expect(json.stderr).toBe(warning('again'));
    expect(JSON.parse(json.stdout)).toMatchObject({ deleted: ['again'], unrecordedCalls: [{ id: 'again', callId: 'c1', tool: 'publish', idempotencyKey: 'again:c1' }] });
  });

  it('--dry-run lists what it would delete and deletes nothing', async () => {
    await fill();
    const result = await cli('prune', '--ended-before', '30d', '--dry-run');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean);
    // In the walk's order: oldest first.
    expect(lines.slice(0, -1)).toEqual([
      expect.stringMatching(/^would delete pipe-child \(calculator, done, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)$/),
      expect.stringMatching(/^would delete old-done \(calculator, done, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)$/),
      expect.stringMatching(/^would delete old-failed \(calculator, failed, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)$/),
      expect.stringMatching(/^would delete old-cancelled \(echo, cancelled, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)$/),
    ]);
    expect(lines.at(-1)).toMatch(/^would delete 4 threads that ended before \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(dry run: nothing deleted\)$/);
    expect((await store.list({ limit: 100 })).length).toBe(7);
  });

  it('walks page after page while it deletes, and stops at --max, saying to run it again', async () => {
    for (let i = 0; i < 230; i++) await store.create(threadOf(`t${String(i).padStart(3, '0')}`, 'echo', DONE, ago(40) + i));
    const all = await cli('prune', '--ended-before', '30d', '--max', '500');
    expect(all.stdout).toMatch(/\ndeleted 230 threads that ended before \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\n$/);
    expect(await store.list({ limit: 1000 })).toEqual([]);

    for (let i = 0; i < 5; i++) await store.create(threadOf(`u${i}`, 'echo', DONE, ago(40) + i));
    const bounded = await cli('prune', '--ended-before', '30d', '--max', '2');
    expect(bounded.code).toBe(0);
    expect(bounded.stdout).toMatch(/^deleted u0 \(echo, done, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)\ndeleted u1 \(echo, done, updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\)\ndeleted 2 threads that ended before \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}; stopped at --max 2: run it again for more\n$/);
    expect((await store.list({ limit: 100 })).map((s) => s.id).sort()).toEqual(['u2', 'u3', 'u4']);
  });

  it('asks the server only for the threads updated before the cutoff (the younger ones are never listed)', async () => {
    await fill();
    for (let i = 0; i < 150; i++) await store.create(threadOf(`young${i}`, 'echo', DONE, ago(2) + i));
    const list = store.list.bind(store);
    const listed: string[] = [];
    store.list = async (options) => {
      const page = await list(options);
      if (options?.after !== undefined) listed.push(...page.map((s) => s.id));
      return page;
    };
    const cutoff = new Date(ago(30)).toISOString();
    const result = await cli('prune', '--ended-before', cutoff, '--dry-run');
    expect(result.code).toBe(0);
    expect(listed.sort()).toEqual(['old-cancelled', 'old-done', 'old-failed', 'pipe-child']);
  });

  it('refuses a cutoff after now (it would delete every thread that ended): usage, exit 2, naming the cutoff and now, and deletes nothing', async () => {
    await fill();
    const nextYear = new Date(Date.now() + 365 * DAY).toISOString().slice(0, 10);
    for (const flags of [[], ['--dry-run'], ['--json']]) {
      const result = await cli('prune', '--ended-before', nextYear, ...flags);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`${nextYear} (${nextYear}T00:00:00.000Z) is after now (`);
    }
    expect((await store.list({ limit: 100 })).length).toBe(7);
  });

  it('refuses a cutoff it cannot read (usage, exit 2), naming what it takes', async () => {
    const result = await cli('prune', '--ended-before', '30 days');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('a duration such as 30d or 12h, or an ISO date such as 2026-01-31');
    const missing = await cli('prune');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--ended-before');
  });
});
