import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { messageOf, SystemError } from '../errors.js';

/**
 * Where the deliveries of callbacks and webhooks are recorded, beside the thread store: under each
 * key (the thread whose rest a callback reports; a webhook's receiver and thread) the id of the
 * last one delivered. What a thread's current rest calls for and this does not hold is sent again
 * (at least once); a record lost costs a repeat, which the receiver drops by its id, never a
 * delivery.
 */
export interface DeliveryLedger {
  /** The id last recorded under `key`, if any. */
  get(key: string): Promise<string | undefined>;
  /** Records `id` as delivered under `key` (it replaces the one before). */
  record(key: string, id: string): Promise<void>;
  /** Waits for the records being written. */
  close(): Promise<void>;
  /**
   * True when one process at a time delivers and records here (the file ledger beside an embedded
   * store): a walk for owed deliveries then skips what rested before the last complete one, where
   * on a shared ledger it looks a margin further back (rests written late, or by clocks apart).
   */
  readonly exclusive?: boolean;
}

/** A file holds more lines than this many per live record plus some: it is rewritten at open. */
const COMPACT_RATIO = 2;
const COMPACT_SLACK = 1_024;

/**
 * A ledger in one file (JSON lines `[key, id]`, appended; the last line of a key wins), read once
 * and kept in memory. Created on the first record; a torn last line (the process died mid-write)
 * is skipped. Rewritten at open when most of its lines were replaced since. One process at a time
 * (the one that holds the file store beside it).
 *
 * @example
 * ```ts
 * const ledger = fileDeliveryLedger('.switchyard/deliveries.jsonl');
 * const callbacks = createCallbackSender({ ledger });
 * ```
 */
export function fileDeliveryLedger(path: string): DeliveryLedger {
  let opened: Promise<Map<string, string>> | undefined;
  let writes: Promise<void> = Promise.resolve();

  async function open(): Promise<Map<string, string>> {
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new SystemError(`cannot read the delivery ledger ${path}`, { cause: error });
    }
    const records = new Map<string, string>();
    if (text === undefined) {
      await mkdir(dirname(path), { recursive: true });
      return records;
    }
    const lines = text.split('\n').filter((line) => line !== '');
    for (const line of lines) {
      const entry = parseLine(line);
      if (entry !== undefined) records.set(entry[0], entry[1]);
    }
    if (!text.endsWith('\n') && text !== '') await appendFile(path, '\n'); // after a torn line, a whole one
    if (lines.length > COMPACT_RATIO * records.size + COMPACT_SLACK) {
      const tmp = `${path}.tmp`;
      await writeFile(tmp, [...records].map((entry) => `${JSON.stringify(entry)}\n`).join(''));
      await rename(tmp, path);
    }
    return records;
  }

  const ready = (): Promise<Map<string, string>> => (opened ??= open());

  return {
    async get(key) {
      return (await ready()).get(key);
    },
    async record(key, id) {
      const records = await ready();
      if (records.get(key) === id) return;
      records.set(key, id);
      const line = `${JSON.stringify([key, id])}\n`;
      // One append at a time, in order: the last line of a key is its last record.
      const written = writes.then(() => appendFile(path, line));
      writes = written.catch(() => undefined);
      await written.catch((error: unknown) => {
        throw new SystemError(`cannot write the delivery ledger ${path}: ${messageOf(error)}`, { cause: error });
      });
    },
    async close() {
      await writes;
    },
    exclusive: true,
  };
}

function parseLine(line: string): [string, string] | undefined {
  try {
    const entry = JSON.parse(line) as unknown;
    return Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && typeof entry[1] === 'string' ? [entry[0], entry[1]] : undefined;
  } catch {
    return undefined;
  }
}
