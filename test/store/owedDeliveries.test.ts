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
import { silentLogger, type Logger } from '../../src/logger.js';
import { capturingLogger } from '../support/capturingLogger.js';

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

/**
 * Resting threads, the reads of them, and a receiver that can refuse. A thread rests at `version`
 * (its delivery `<id>:<version>`); a `quiet-` one, or one that moved on, owes none.
 */
function world(logger: Logger = silentLogger()) {
  const summaries: ThreadSummary[] = [];
  const versions = new Map<string, number>();
  const movedOn = new Set<string>();
  const reads: string[] = [];
  const sent: string[] = [];
  let refusing = false;
  const rest = (id: string, at: number, version = 1): void => {
    versions.set(id, version);
    summaries.push({ id, agent: 'a', status: 'done', version, createdAt: new Date(at).toISOString(), updatedAt: new Date(at).toISOString(), cursor: id } as ThreadSummary);
  };
  const threads = {
    list: async (options: ListOptions) => {
      const from = options.after === '' || options.after === undefined ? 0 : summaries.findIndex((s) => s.cursor === options.after) + 1;
      return summaries.slice(from, from + (options.limit ?? 100));
    },
    get: async (id: string) => {
      reads.push(id);
      return versions.has(id) ? ({ id, agent: 'a', events: [] } as unknown as Thread) : undefined;
    },
  };
  const walk = (ledger: DeliveryLedger, until: number) =>
    sendOwedDeliveries<string>({
      threads,
      ledger,
      until,
      signal: new AbortController().signal,
      logger,
      what: 'callback',
      scopes: ['callback'],
      keysOf: (id) => [id],
      // A thread launched without a callbackUrl owes none (most threads): nothing is recorded for it.
      dueOf: async (thread) => {
        if (thread.id.startsWith('quiet') || movedOn.has(thread.id)) return [];
        const id = `${thread.id}:${versions.get(thread.id)}`;
        return [{ scope: 'callback', key: thread.id, id, due: id }];
      },
      // A sender that records what it delivered (and, here, nothing it gave up: the walk does).
      send: async (thread, due) => {
        if (refusing) throw new Error('503');
        sent.push(due);
        await ledger.record(thread.id, due);
      },
    });
  return { rest, reads, sent, walk, refuse: (on: boolean) => (refusing = on), moveOn: (id: string) => movedOn.add(id) };
}

describe('the owed-deliveries walk on a ledger one process writes', () => {
  it('reads only the threads that rested since the last complete walk; what it could not deliver is owed and sent by the next', async () => {
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
    // That walk failed to send it: it is owed, and the walk marked its start.
    expect(await ledger().owed()).toEqual([{ key: 'new-1', id: 'new-1:1', threadId: 'new-1' }]);
    refuse(false);
    reads.length = 0;
    rest('new-2', 21_000);
    await walk(ledger(), 30_000);
    expect(reads).toEqual(['new-1', 'new-2']);
    expect(sent).toEqual(['new-1:1', 'new-2:1']);
    expect(await ledger().owed()).toEqual([]);
    // All sent: the next start reads nothing rested before it.
    reads.length = 0;
    await walk(ledger(), 40_000);
    expect(reads).toEqual([]);
  });

  it('keeps the marks it found while a delivery it sent is neither delivered nor recorded as owed', async () => {
    const { rest, reads, sent, walk, refuse } = world();
    const ledger = (): DeliveryLedger => fileDeliveryLedger(join(dir, 'deliveries.jsonl'));
    rest('old', 1_000);
    await walk(ledger(), 10_000);
    rest('new', 11_000);
    refuse(true);
    // The ledger takes the marks but not what is owed (a write that failed).
    await walk({ ...ledger(), owe: () => Promise.reject(new Error('disk full')) }, 20_000);
    refuse(false);
    reads.length = 0;
    await walk(ledger(), 30_000);
    expect(reads).toEqual(['new']);
    expect(sent).toEqual(['new:1']);
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

  it('sends what was given up whenever its thread rested, what its current rest calls for, and clears it once settled', async () => {
    const { rest, reads, sent, walk, refuse, moveOn } = world();
    const HOUR = 3_600_000;
    const start = 10 * HOUR;
    await walk(sharedLedger([]), start);
    // Given up by other processes: rests a walk marked after (a clock ahead of theirs) missed.
    const owe = (threadId: string, version: number, key = threadId) => sharedLedger([]).owe({ key, id: `${threadId}:${version}`, threadId });
    rest('given-up', start - HOUR);
    await owe('given-up', 1);
    rest('rested-again', start - HOUR, 3);
    await owe('rested-again', 2);
    rest('moved-on', start - HOUR);
    moveOn('moved-on');
    await owe('moved-on', 1);
    await owe('gone', 1);
    rest('missed', start - HOUR); // with no record: beyond the margin, not read
    await owe('webhooked', 1, 'webhook http://elsewhere webhooked'); // another sender's
    reads.length = 0;
    await walk(sharedLedger([]), start + HOUR);
    expect(sent).toEqual(['given-up:1', 'rested-again:3']);
    expect(reads).toEqual(['given-up', 'rested-again', 'moved-on', 'gone']);
    expect(await sharedLedger([]).owed()).toEqual([{ key: 'webhook http://elsewhere webhooked', id: 'webhooked:1', threadId: 'webhooked' }]);

    // Given up again: still owed, and the walk complete (the next looks no further back).
    rest('down', start - HOUR);
    await owe('down', 1);
    refuse(true);
    await walk(sharedLedger([]), start + 2 * HOUR);
    expect((await sharedLedger([]).owed()).map((owed) => owed.id)).toEqual(['webhooked:1', 'down:1']);
    refuse(false);
    reads.length = 0;
    await walk(sharedLedger([]), start + 3 * HOUR);
    expect(reads).toEqual(['down']);
    expect(sent).toEqual(['given-up:1', 'rested-again:3', 'down:1']);
    expect((await sharedLedger([]).owed()).map((owed) => owed.id)).toEqual(['webhooked:1']);
  });
});

describe('the owed-deliveries walk in the logs', () => {
  // QA27 observe D3: its lines named the thread only, not its agent, unlike every other thread line.
  it('names the thread and its agent on each line about a delivery it sends or fails', async () => {
    const { logger, out } = capturingLogger('info');
    const { rest, walk, refuse } = world(logger);
    const ledger = (): DeliveryLedger => fileDeliveryLedger(join(dir, 'deliveries.jsonl'));
    await walk(ledger(), 10_000);
    rest('new-1', 11_000);
    refuse(true);
    await walk(ledger(), 20_000);
    const lines = out.lines.filter((line) => line.threadId === 'new-1');
    expect(lines.map((line) => line.msg)).toEqual(['callback owed since the last process: sending it', 'owed callback failed']);
    for (const line of lines) expect(line).toMatchObject({ threadId: 'new-1', agent: 'a' });
  });
});
