import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { incarnationKeyOf } from '../../src/thread/incarnation.js';

interface Line {
  event: string;
  threadId?: string;
  status?: string;
  tool?: string;
  view?: ThreadView;
  message?: string;
  /** Threads resumed by recover() (on the `recovered` line). */
  count?: number;
}

/** A worker child process speaking JSON lines. */
function startWorker(dir: string, env: Record<string, string>) {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'durableWorker.ts'), dir],
    { env: { ...process.env, ...env }, stdio: 'pipe' },
  );
  const lines: Line[] = [];
  const waiters: { test: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    /** Resolves with the first line (seen or future) that passes the test; bounded by a timeout. */
    waitFor(test: (line: Line) => boolean, what: string, timeoutMs = 20_000): Promise<Line> {
      const seen = lines.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
        waiters.push({ test, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      });
    },
    send(command: object): void {
      child.stdin.write(`${JSON.stringify(command)}\n`);
    },
  };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

describe('restart survival (file store, real child processes, SIGKILL)', () => {
  it('continues threads that were mid-call, awaiting a human and backing off; no non-idempotent tool runs twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-restart-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));

    const first = startWorker(dir, { LAUNCH: '1', BLOCK_TOOLS: '1' });
    cleanup.push(async () => void first.child.kill('SIGKILL'));
    await first.waitFor((l) => l.event === 'tool_started' && l.tool === 'charge', 'charge to start');
    await first.waitFor((l) => l.event === 'tool_started' && l.tool === 'record', 'record to start');
    await first.waitFor((l) => l.threadId === 't-ask' && l.status === 'awaiting_human', 'ask to await a human');
    await first.waitFor((l) => l.threadId === 't-flaky' && l.status === 'backing_off', 'flaky to back off');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();

    const second = startWorker(dir, { LAUNCH: '0', BLOCK_TOOLS: '0' });
    cleanup.push(async () => {
      second.child.kill('SIGTERM');
      await second.exited;
    });
    const recovered = await second.waitFor((l) => l.event === 'recovered', 'recovery');
    // Running (t-charge, t-record mid-call) and backing off (t-flaky); t-ask waits for a human.
    expect(recovered.count).toBe(3);

    const settled = async (threadId: string): Promise<ThreadView> => {
      second.send({ cmd: 'settled', threadId });
      const line = await second.waitFor((l) => l.event === 'settled' && l.view?.id === threadId && second.lines.indexOf(l) >= 0, `settled ${threadId}`);
      second.lines.splice(second.lines.indexOf(line), 1);
      return line.view!;
    };

    // The idempotent call ran again with the same idempotency key, attempt 2, and finished.
    const recordView = await settled('t-record');
    expect(recordView.status).toBe('done');
    const recordCalls = recordView.events.filter((e) => e.type === 'tool_call');
    const recordKey = `${incarnationKeyOf(recordView)}:call_2`;
    expect(recordKey).toMatch(/^t-record@[0-9a-z]+:call_2$/);
    expect(recordCalls.map((e) => (e.type === 'tool_call' ? [e.data.attempt, e.data.idempotencyKey] : []))).toEqual([
      [1, recordKey],
      [2, recordKey],
    ]);

    // The backoff deadline survived: it decided again after the recorded deadline and recovered.
    const flaky = await settled('t-flaky');
    expect(flaky.status).toBe('done');
    expect(flaky.output).toBe('recovered');
    const error = flaky.events.find((e) => e.type === 'error');
    const retried = flaky.events.find((e) => e.type === 'decision');
    expect(error?.type === 'error' && retried && Date.parse(retried.at) >= Date.parse(error.data.retryAt!)).toBe(true);

    // The human request is still there after the crash; answering it continues the thread.
    const ask = await settled('t-ask');
    expect(ask.status).toBe('awaiting_human');
    second.send({ cmd: 'respond', threadId: 't-ask', response: { requestId: ask.pendingRequest!.requestId, answer: 'blue' } });
    await second.waitFor((l) => l.event === 'responded' && l.view?.id === 't-ask', 'respond');
    expect((await settled('t-ask')).output).toBe('finished ask');

    // The non-idempotent charge was not run again: a human is asked what happened.
    const charge = await settled('t-charge');
    expect(charge.status).toBe('awaiting_human');
    expect(charge.pendingRequest).toMatchObject({ kind: 'interrupted', tool: 'charge' });
    second.send({ cmd: 'respond', threadId: 't-charge', response: { requestId: charge.pendingRequest!.requestId, approved: false, comment: 'it went through' } });
    await second.waitFor((l) => l.event === 'responded' && l.view?.id === 't-charge', 'respond to charge');
    const charged = await settled('t-charge');
    expect(charged.status).toBe('done');

    const ledger = (await readFile(join(dir, 'ledger.log'), 'utf8')).trim().split('\n');
    expect(ledger.filter((l) => l.startsWith('charge '))).toEqual([`charge ${incarnationKeyOf(charged)}:call_2 5`]);
    expect(ledger.filter((l) => l.startsWith('record '))).toEqual([`record ${recordKey} 1`, `record ${recordKey} 2`]);
  }, 60_000);
});
