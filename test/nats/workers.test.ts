import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TriggerResult } from '../../src/surface/payloads.js';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.js';
import { eventually, plainClient, uniqueToken, within, type PlainClient } from './natsTestKit.js';

interface LedgerLine {
  pid: number;
  key: string;
  attempt: number;
  threadId: string;
}

const ACK_WAIT_MS = 1_500;
const prefix = `sy${uniqueToken()}`;
const bucket = `threads_${uniqueToken()}`;
let server: NatsServerHandle;
let client: PlainClient;
let dir: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  server = await startNatsServer();
  client = await plainClient(server.url);
  dir = mkdtempSync(join(tmpdir(), 'switchyard-ledger-'));
});

afterEach(async () => {
  await Promise.all([...children].map((child) => stopWorker(child, 'SIGKILL')));
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Spawns a worker process and resolves once it takes jobs. */
async function startWorker(ledger: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'ledgerWorker.ts')], {
    env: { ...process.env, NATS_URL: server.url, PREFIX: prefix, BUCKET: bucket, LEDGER: ledger, ACK_WAIT_MS: String(ACK_WAIT_MS), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"ready"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready: ${stderr}`)));
  });
  await within(ready, 30_000, `worker ready; stderr: ${stderr}`);
  return child;
}

async function stopWorker(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await within(exited, 10_000, `worker ${child.pid} to exit on ${signal}`);
  }
  children.delete(child);
}

function readLedger(ledger: string): LedgerLine[] {
  if (!existsSync(ledger)) return [];
  return readFileSync(ledger, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as LedgerLine);
}

describe('worker processes', () => {
  it('share the jobs of one queue', async () => {
    const ledger = join(dir, 'share.jsonl');
    const workers = await Promise.all([startWorker(ledger, { TOOL_MS: '150' }), startWorker(ledger, { TOOL_MS: '150' })]);
    const { subject, messages } = client.inbox<TriggerResult>();
    const count = 12;
    for (let i = 0; i < count; i++) await client.trigger(`${prefix}.trigger.ledger`, { input: i, replyTo: subject }, { msgId: `share-${i}` });
    const results = await messages.until(count, 30_000, 'every result');
    expect(results.every((r) => r.status === 'done' && r.output === 'recorded')).toBe(true);
    expect(new Set(results.map((r) => r.threadId)).size).toBe(count);
    const lines = readLedger(ledger);
    expect(lines).toHaveLength(count); // every tool ran once
    expect(new Set(lines.map((l) => l.pid))).toEqual(new Set(workers.map((w) => w.pid)));
    // Graceful stop: both exit cleanly.
    await Promise.all(workers.map((w) => stopWorker(w, 'SIGTERM')));
    expect(workers.map((w) => w.exitCode)).toEqual([0, 0]);
  });

  it('continues a killed worker’s job on another worker, never running a tool twice unless it is idempotent', async () => {
    const ledger = join(dir, 'kill.jsonl');
    const doomed = await startWorker(ledger, { BLOCK: '1' });
    const { subject, messages } = client.inbox<TriggerResult>();
    await client.trigger(`${prefix}.trigger.ledger`, { input: 'once', replyTo: subject }, { msgId: 'kill-once' });
    await client.trigger(`${prefix}.trigger.ledger_idem`, { input: 'again', replyTo: subject }, { msgId: 'kill-idem' });
    // Both tools started on the doomed worker (they block there).
    await eventually(async () => (readLedger(ledger).length === 2 ? true : undefined), 15_000, 'both tools to start');
    const survivor = await startWorker(ledger);
    await stopWorker(doomed, 'SIGKILL');

    const results = await messages.until(2, 20_000, 'both results after redelivery');
    const once = results.find((r) => r.threadId === 'trg-kill-once');
    const idem = results.find((r) => r.threadId === 'trg-kill-idem');
    // Not idempotent: the survivor asks a human what happened instead of running it again.
    expect(once).toMatchObject({ status: 'awaiting_human', pendingRequest: { kind: 'interrupted', tool: 'record' } });
    // Idempotent: run again with the same idempotency key, and finished.
    expect(idem).toMatchObject({ status: 'done', output: 'recorded' });

    const lines = readLedger(ledger);
    const onceRuns = lines.filter((l) => l.threadId === 'trg-kill-once');
    expect(onceRuns).toEqual([expect.objectContaining({ pid: doomed.pid, attempt: 1 })]);
    const idemRuns = lines.filter((l) => l.threadId === 'trg-kill-idem');
    expect(idemRuns.map((l) => [l.pid, l.attempt])).toEqual([
      [doomed.pid, 1],
      [survivor.pid, 2],
    ]);
    expect(new Set(idemRuns.map((l) => l.key)).size).toBe(1);
  });
});
