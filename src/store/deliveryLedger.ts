import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { messageOf, SystemError } from '../errors.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './fileIo.js';

/**
 * A delivery a sender gave up (its retries exhausted, or the sender closed with it unsent), kept in
 * the {@link DeliveryLedger} until a walk for owed deliveries sends it.
 */
export interface OwedRecord {
  /** The key it is recorded under once delivered. */
  readonly key: string;
  /** Its id. */
  readonly id: string;
  /** The thread whose rest calls for it. */
  readonly threadId: string;
}

/**
 * Where the deliveries of callbacks and webhooks are recorded, beside the thread store: under each
 * key (the thread whose rest a callback reports; a webhook's receiver and thread) the id of the
 * last one delivered. What a thread's current rest calls for and this does not hold is sent again
 * (at least once); a record lost costs a repeat, which the receiver drops by its id, never a
 * delivery. A delivery given up is also recorded as owed, so the next start sends it however long
 * ago its thread rested.
 */
export interface DeliveryLedger {
  /** The id last recorded under `key`, if any. */
  get(key: string): Promise<string | undefined>;
  /** Records `id` as delivered under `key` (it replaces the one before). */
  record(key: string, id: string): Promise<void>;
  /** Records a delivery given up as owed (it replaces the one owed under the same key before). */
  owe(owed: OwedRecord): Promise<void>;
  /** The deliveries recorded as owed and not cleared since. */
  owed(): Promise<OwedRecord[]>;
  /** Clears what is owed under `key` while that is `id` (one given up since, of another rest, stays). */
  clearOwed(key: string, id: string): Promise<void>;
  /**
   * Forgets `key`, its thread deleted: what was delivered under it and what is owed there (the
   * ids of a thread launched again under the id differ anyway: this keeps the ledger from holding
   * what a deletion erased). Optional: a ledger without it keeps them.
   */
  forget?(key: string): Promise<void>;
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
/** The prefix of the keys the file keeps owed deliveries under (no thread id holds a space). */
const OWED = 'owed ';

/**
 * A ledger in one file (JSON lines `[key, id]`, appended; the last line of a key wins; an owed
 * delivery is `["owed <key>", "[id, threadId]"]`, cleared by `["owed <key>", ""]`), read once and
 * kept in memory. Created on the first record; a torn last line (the process died mid-write) is
 * skipped. Rewritten at open when most of its lines were replaced since. One process at a time
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
      await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
      return records;
    }
    const lines = text.split('\n').filter((line) => line !== '');
    for (const line of lines) {
      const entry = parseLine(line);
      if (entry === undefined) continue;
      if (entry[1] === '') records.delete(entry[0]);
      else records.set(entry[0], entry[1]);
    }
    if (!text.endsWith('\n') && text !== '') await appendFile(path, '\n', { mode: PRIVATE_FILE_MODE }); // after a torn line, a whole one
    if (lines.length > COMPACT_RATIO * records.size + COMPACT_SLACK) {
      const tmp = `${path}.tmp`;
      // A .tmp a crash left keeps its mode through a plain write: removed, then created anew.
      await rm(tmp, { force: true });
      await writeFile(tmp, [...records].map((entry) => `${JSON.stringify(entry)}\n`).join(''), { mode: PRIVATE_FILE_MODE, flag: 'wx' });
      await rename(tmp, path);
    }
    return records;
  }

  const ready = (): Promise<Map<string, string>> => (opened ??= open());

  /** Sets `key` to `value` (`''` removes it), in memory and then in the file. */
  async function write(key: string, value: string): Promise<void> {
    const records = await ready();
    if ((records.get(key) ?? '') === value) return;
    if (value === '') records.delete(key);
    else records.set(key, value);
    const line = `${JSON.stringify([key, value])}\n`;
    // One append at a time, in order: the last line of a key is its last record.
    const written = writes.then(() => appendFile(path, line, { mode: PRIVATE_FILE_MODE }));
    writes = written.catch(() => undefined);
    await written.catch((error: unknown) => {
      throw new SystemError(`cannot write the delivery ledger ${path}: ${messageOf(error)}`, { cause: error });
    });
  }

  return {
    async get(key) {
      return (await ready()).get(key);
    },
    record: write,
    owe: ({ key, id, threadId }) => write(OWED + key, JSON.stringify([id, threadId])),
    async owed() {
      const owed: OwedRecord[] = [];
      for (const [key, value] of await ready()) {
        const record = key.startsWith(OWED) ? parseOwed(key.slice(OWED.length), value) : undefined;
        if (record !== undefined) owed.push(record);
      }
      return owed;
    },
    async clearOwed(key, id) {
      const value = (await ready()).get(OWED + key);
      if (value !== undefined && parseOwed(key, value)?.id === id) await write(OWED + key, '');
    },
    async forget(key) {
      // A line that clears each (none for what the file does not hold).
      await write(key, '');
      await write(OWED + key, '');
    },
    async close() {
      await writes;
    },
    exclusive: true,
  };
}

/** The owed delivery a file keeps under `owed <key>`, or undefined when its value is not one. */
function parseOwed(key: string, value: string): OwedRecord | undefined {
  const entry = parseLine(value);
  return entry === undefined ? undefined : { key, id: entry[0], threadId: entry[1] };
}

function parseLine(line: string): [string, string] | undefined {
  try {
    const entry = JSON.parse(line) as unknown;
    return Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && typeof entry[1] === 'string' ? [entry[0], entry[1]] : undefined;
  } catch {
    return undefined;
  }
}
