/**
 * The walk that sends what the threads owe after a restart (callbacks, webhooks): on a ledger only
 * one process writes (the file ledger beside an embedded store), a walk starts where the last
 * complete one left off, so a restart does not read every resting thread again; on a ledger
 * processes share (the KV ledger on NATS), a margin before that.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileDeliveryLedger, type DeliveryLedger } from '../../src/store/deliveryLedger.js';
import { sendOwedDeliveries } from '../../src/store/owedDeliveries.js';
import type { ListOptions, ThreadSummary } from '../../src/store/threadStore.js';
import type { Thread } from '../../src/thread/events.js';
import { silentLogger } from '../../src/logger.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-owed-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The ledger in `dir` as processes sharing it see it (not exclusive), its reads counted in `reads`. */
function sharedLedger(reads: string[]): DeliveryLedger {
  const file = fileDeliveryLedger(join(dir, 'deliveries.jsonl'));
  return {
    ...file,
    get(key) {
      reads.push(key);
      return file.get(key);
    },
    exclusive: false,
  };
}

/** Resting threads (one version each), the reads of them, and a receiver that can refuse. */
function world() {
  const summaries: ThreadSummary[] = [];
  const reads: string[] = [];
  const sent: string[] = [];
  let refusing = false;
  const rest = (id: string, at: number): void => {
    summaries.push({ id, agent: 'a', status: 'done', version: 1, createdAt: new Date(at).toISOString(), updatedAt: new Date(at).toISOString(), cursor: id } as ThreadSummary);
  };
  const threads = {
    list: async (options: ListOptions) => {
      const from = options.after === '' || options.after === undefined ? 0 : summaries.findIndex((s) => s.cursor === options.after) + 1;
      return summaries.slice(from, from + (options.limit ?? 100));
    },
    get: async (id: string) => {
      reads.push(id);
      return { id, agent: 'a', events: [] } as unknown as Thread;
    },
  };
  const walk = (ledger: DeliveryLedger, until: number) =>
    sendOwedDeliveries<string>({
      threads,
      ledger,
      until,
      signal: new AbortController().signal,
      logger: silentLogger(),
      what: 'callback',
      scopes: ['callback'],
      keysOf: (id) => [id],
      // A thread launched without a callbackUrl owes none (most threads): nothing is recorded for it.
      dueOf: async (thread) => (thread.id.startsWith('quiet') ? [] : [{ scope: 'callback', key: thread.id, id: `${thread.id}:1`, due: thread.id }]),
      send: async (thread, due) => {
        if (refusing) throw new Error('503');
        sent.push(due);
        await ledger.record(thread.id, `${thread.id}:1`);
      },
    });
  return { rest, reads, sent, walk, refuse: (on: boolean) => (refusing = on) };
}

describe('the owed-deliveries walk on a ledger one process writes', () => {
  it('reads only the threads that rested since the last complete walk, and keeps the mark while a send failed', async () => {
    const { rest, reads, sent, walk, refuse } = world();
    const ledger = (): DeliveryLedger => fileDeliveryLedger(join(dir, 'deliveries.jsonl'));
    rest('old-1', 1_000);
    rest('quiet-1', 1_500);
    rest('old-2', 2_000);
    // First start: the past is recorded, not sent.
    await walk(ledger(), 10_000);
    expect(sent).toEqual([]);
    reads.length = 0;
    // A thread rested after that start and its callback failed before the process died.
    rest('new-1', 11_000);
    rest('quiet-2', 12_000);
    refuse(true);
    await walk(ledger(), 20_000);
    expect(reads).toEqual(['new-1', 'quiet-2']);
    // That walk failed to send it: the next start still looks from the first start's mark.
    refuse(false);
    reads.length = 0;
    rest('new-2', 21_000);
    await walk(ledger(), 30_000);
    expect(reads).toEqual(['new-1', 'quiet-2', 'new-2']);
    expect(sent).toEqual(['new-1', 'new-2']);
    // All sent: the next start reads nothing rested before it.
    reads.length = 0;
    await walk(ledger(), 40_000);
    expect(reads).toEqual([]);
  });
});

describe('the owed-deliveries walk on a ledger processes share', () => {
  it('reads only what rested since the oldest mark minus the margin (summaries written late, clocks apart)', async () => {
    const { rest, walk } = world();
    const HOUR = 3_600_000;
    const start = 10 * HOUR;
    // The margin is a few minutes: a minute before a mark is within it, an hour is not.
    rest('long-before', start - HOUR);
    rest('within-margin', start - 60_000);
    // First start: the past is recorded, not sent; the walk marks its start.
    const reads: string[] = [];
    await walk(sharedLedger(reads), start);
    // A thread rested after that start and was delivered then.
    rest('after', start + 1_000);
    await sharedLedger(reads).record('after', 'after:1');
    reads.length = 0;
    await walk(sharedLedger(reads), start + HOUR);
    const threads = ['long-before', 'within-margin', 'after'];
    expect(reads.filter((key) => threads.includes(key))).toEqual(['within-margin', 'after']);
    // That walk was complete: the next reads no thread rested before its mark minus the margin.
    reads.length = 0;
    await walk(sharedLedger(reads), start + 2 * HOUR);
    expect(reads.filter((key) => threads.includes(key))).toEqual([]);
  });
});
