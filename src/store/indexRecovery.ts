import { fstatSync, openSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { SystemError } from '../errors.js';
import { CommitLog, listSegments, readRecords, segmentFile, segmentOrigin, type CommitLogOptions } from './commitLog.js';
import type { CommitRecord } from './commitRecord.js';
import { cutBackError, isCutBack } from './cutBack.js';
import { closeQuietly, statIfExists } from './fileIo.js';
import { heldLocks } from './fileLock.js';
import { applyRecords, type FileStoreParts } from './fileStoreParts.js';
import { entryOf, type IndexEntry } from './indexEntry.js';
import { finishDeletion } from './fileWrites.js';
import { loadSnapshot, UnusableSnapshotError, writeSnapshot } from './indexSnapshot.js';
import { CorruptThreadFileError } from './threadFiles.js';
import { decodeThreadId, encodeThreadId, THREAD_FILE_EXT } from './threadFile.js';
import { ThreadIndex } from './threadIndex.js';

/** Error codes that say the process, not one file, is in trouble: a rebuild fails rather than skipping files. */
const PROCESS_WIDE = new Set(['EMFILE', 'ENFILE', 'ENOMEM']);

function isProcessWide(cause: unknown): boolean {
  return PROCESS_WIDE.has(String((cause as NodeJS.ErrnoException | undefined)?.code));
}

/** `rebuildIndex` gives the event loop a turn after this much synchronous work. */
const SLICE_MS = 8;

/** Why an index was rebuilt from the thread files, if it was. */
export type RebuildReason = 'missing' | 'unusable' | 'stale' | undefined;

/** The parts recovery needs before the index and log exist. */
type RecoveryParts = Omit<FileStoreParts, 'index' | 'log'>;

/**
 * Opens the index of a file store directory: loads the snapshot, replays the commit log after it,
 * writes back what a machine crash took from thread files (see {@link redoLostLines}), and checks
 * that no thread file changed behind the index's back. The thread files are read only when the
 * index is missing (a directory from before the index, or deleted), unusable (damaged, another
 * format, a gap in the log), or stale (the directory gained or lost files no record tells of):
 * then the index is rebuilt from them and saved.
 */
export async function openIndex(
  parts: RecoveryParts,
  logOptions: Omit<CommitLogOptions, 'onRecords'>,
  onRecords: (records: readonly CommitRecord[]) => void,
): Promise<{ index: ThreadIndex; log: CommitLog; rebuilt: RebuildReason }> {
  const { indexDir } = parts.config;
  let index = new ThreadIndex();
  let reason: RebuildReason;
  let covers = { gen: 1, offset: 0 };
  try {
    const header = loadSnapshot(indexDir, index);
    if (header === undefined) reason = 'missing';
    else covers = header.covers;
  } catch (error) {
    if (!(error instanceof UnusableSnapshotError)) throw error;
    reason = 'unusable';
  }
  const segments = listSegments(indexDir);
  if (reason === undefined && segments.length > 0 && segments[0]! > covers.gen) reason = 'unusable';
  if (reason !== undefined) {
    index = new ThreadIndex();
    covers = { gen: segments[0] ?? 1, offset: 0 };
  }
  const target = index;
  let replaying = true;
  /** The last tombstone of each thread the replayed log deleted. */
  const deleted = new Map<string, IndexEntry>();
  const replay = (records: readonly CommitRecord[]): void => {
    for (const record of records) if (record.deleted === true) deleted.set(record.entry.id, record.entry);
    applyRecords(target, records);
  };
  const log = await CommitLog.open({ ...logOptions, onRecords: (records) => (replaying ? replay(records) : onRecords(records)) }, covers);
  log.catchUp();
  replaying = false;
  await redoLostLines(parts, segments);
  await reconcileDeleted(parts, index, deleted);
  const reconciled = reconcileDeadLocks(parts, index);
  if (reason === undefined && dirChangedBehindIndex(parts, index, reconciled)) reason = 'stale';
  let read = 0;
  if (reason !== undefined) {
    const names = await rebuildIndex(parts, index);
    read = names.size;
    // Records written while the files were read are newer than what was read.
    replaying = true;
    log.catchUp();
    replaying = false;
    reportGone(parts, index, names);
    await writeSnapshot(indexDir, index, log.position, { fsync: parts.config.fsync, locks: parts.locks });
  }
  // Rebuilding a directory without thread files (a new store) is not worth a word.
  return { index, log, rebuilt: read > 0 ? reason : undefined };
}

/**
 * After a machine crash (a segment written in another boot), or in a copy of the directory (a
 * segment that is not the file it was started as: a backup restored on this host, whose thread
 * files may have been copied before the lines its log holds), writes back the thread lines the log
 * holds but a thread file lacks: a file shorter than the end of a record's line gets the line at
 * the record's offset, if it holds the same thread (creation time and agent: never lines of one
 * incarnation in the file of another). A copy's missing file is not made again (an index older
 * than its files, put back, must not bring back a thread deleted since). A segment this
 * directory's store wrote in this boot lost nothing (see `segmentOrigin`), and is not read, save
 * after a lost line, for tombstones: the lines of a thread deleted after them are not given back.
 */
async function redoLostLines(parts: RecoveryParts, segments: readonly number[]): Promise<void> {
  /** Lost lines by thread, in log order. */
  const lost = new Map<string, CommitRecord[]>();
  for (const gen of segments) {
    const fd = openSync(segmentFile(parts.config.indexDir, gen), 'r');
    try {
      const origin = segmentOrigin(fd);
      if (origin === 'here' && lost.size === 0) continue;
      readRecords(fd, 0, origin !== 'here', (records) => {
        for (const record of records) {
          const { id } = record.entry;
          if (record.deleted === true) lost.delete(id);
          const stem = encodeThreadId(id);
          if (origin === 'here' || stem === undefined || record.line === undefined) continue;
          const stats = statIfExists(parts.threads.fileOf(stem));
          if (origin === 'copy' && stats === undefined) continue;
          if ((stats?.size ?? 0) >= record.offset + record.line.length) continue;
          const lines = lost.get(id) ?? [];
          lines.push({ ...record, line: Buffer.from(record.line) });
          lost.set(id, lines);
        }
      });
    } finally {
      closeQuietly(fd);
    }
  }
  for (const records of lost.values()) {
    if (!holdsThreadOf(parts, records[0]!)) continue;
    for (const record of records) await redoLine(parts, record);
  }
}

/**
 * Whether the thread file `record` would be written into holds the thread the record is of (or
 * no thread yet: no complete header). A corrupt file is left to {@link redoLine} to report.
 */
function holdsThreadOf(parts: RecoveryParts, record: CommitRecord): boolean {
  const { id, createdAt, agent } = record.entry;
  try {
    const content = parts.threads.load(id, parts.threads.fileOf(encodeThreadId(id)!), false);
    return content === undefined || (content.createdAt === createdAt && content.thread.agent === agent);
  } catch (error) {
    if (error instanceof CorruptThreadFileError) return true;
    throw error;
  }
}

/**
 * Threads the replayed log deleted whose file is there all the same. The file of the deleted
 * incarnation is what a deleter killed between logging the tombstone and removing the file left:
 * the deletion is finished. A file of another incarnation (created again by a writer that died
 * before logging it) is the truth: that thread is listed again rather than left readable and
 * unlisted.
 */
async function reconcileDeleted(parts: RecoveryParts, index: ThreadIndex, tombstones: ReadonlyMap<string, IndexEntry>): Promise<void> {
  for (const [id, tombstone] of tombstones) {
    const stem = encodeThreadId(id);
    if (stem === undefined || index.get(id) !== undefined) continue;
    if (await finishDeletion({ ...parts, index }, tombstone)) continue;
    try {
      const content = parts.threads.load(id, parts.threads.fileOf(stem), false);
      if (content !== undefined) index.apply(entryOf(content, content.size), true);
    } catch (error) {
      if (!(error instanceof CorruptThreadFileError)) throw error;
      parts.config.onCorrupt(id, error);
    }
  }
}

async function redoLine(parts: RecoveryParts, record: CommitRecord): Promise<void> {
  const { id } = record.entry;
  const stem = encodeThreadId(id)!;
  const file = parts.threads.fileOf(stem);
  await parts.threadLocks.run(id, stem, async () => {
    const size = statIfExists(file)?.size ?? 0;
    const line = record.line!;
    if (size >= record.offset + line.length) return;
    if (size < record.offset) {
      parts.config.onCorrupt(id, new SystemError(`thread file ${file} lost lines before byte ${record.offset} that the commit log cannot give back`));
      return;
    }
    let fd: number;
    try {
      fd = parts.threads.openForWrite(id, file) ?? parts.threads.createFile(file);
    } catch (error) {
      if (!(error instanceof CorruptThreadFileError)) throw error;
      parts.config.onCorrupt(id, error); // a directory where the file was
      return;
    }
    parts.threads.writeAt(fd, file, line, record.offset, fstatSync(fd));
    parts.threads.cache.delete(id);
  });
}

/**
 * Threads whose lock a process that died holds may have a line written and no record of it:
 * reads them. Answers how many there were.
 */
function reconcileDeadLocks(parts: RecoveryParts, index: ThreadIndex): number {
  let count = 0;
  for (const lock of heldLocks(parts.config.lockDir)) {
    const id = lock.dead && !lock.name.startsWith('.') ? decodeThreadId(lock.name) : undefined;
    if (id === undefined) continue;
    count++;
    try {
      const content = parts.threads.load(id, parts.threads.fileOf(lock.name), false);
      if (content === undefined) index.remove(id);
      else index.apply(entryOf(content, content.size), true);
    } catch (error) {
      if (!(error instanceof CorruptThreadFileError)) throw error;
      index.remove(id);
    }
  }
  return count;
}

/**
 * True when the thread directory gained or lost files no record tells of (its mtime is newer than
 * any a create recorded). A create in flight (a live lock) or one that died (`reconciled` dead
 * locks) explains a newer mtime, so then the check passes.
 */
function dirChangedBehindIndex(parts: RecoveryParts, index: ThreadIndex, reconciled: number): boolean {
  const mtimeMs = statSync(parts.config.dir).mtimeMs;
  if (mtimeMs <= index.dirMtimeMs) return false;
  const busy = heldLocks(parts.config.lockDir).some((lock) => !lock.dead && !lock.name.startsWith('.'));
  if (busy || reconciled > 0) {
    index.noteDirMtime(mtimeMs);
    return false;
  }
  return true;
}

/** Threads whose file is gone that a rebuild names one by one; past them, a count. */
const GONE_NAMED = 20;

/**
 * After a rebuild of a stale index: the threads the index knew (from the snapshot or the log)
 * whose file is gone (removed by hand, or a partial restore) leave the index, and are reported
 * through `onCorrupt`, the first {@link GONE_NAMED} by id, agent and status, the last of them
 * saying how many more there are. `names`: the thread files the rebuild found.
 */
function reportGone(parts: RecoveryParts, index: ThreadIndex, names: ReadonlySet<string>): void {
  const gone: IndexEntry[] = [];
  for (const entry of index.entries()) {
    const stem = encodeThreadId(entry.id);
    // A file not listed may have been made since the listing: only one not there now is gone.
    if (stem !== undefined && !names.has(stem + THREAD_FILE_EXT) && statIfExists(parts.threads.fileOf(stem)) === undefined) gone.push(entry);
  }
  for (const entry of gone) index.remove(entry.id);
  const named = gone.slice(0, GONE_NAMED);
  named.forEach((entry, at) => {
    const more = at === named.length - 1 && gone.length > named.length ? `; ${gone.length - named.length} more threads the index knew have lost their files too` : '';
    const file = parts.threads.fileOf(encodeThreadId(entry.id)!);
    parts.config.onCorrupt(entry.id, new SystemError(
      `thread file ${file} is gone: the index knew thread ${entry.id} (agent ${entry.agent}, ${entry.status} since ${entry.updatedAt}, version ${entry.version}), removed behind the store's back (by hand, or a partial restore?): it is lost unless a backup holds it${more}`,
    ));
  });
}

/**
 * Reads every thread file into the index (the files are the truth; corrupt ones are reported, and
 * so is a file holding fewer events than the index, from the snapshot or the log, knows were
 * committed: see `cutBack.ts`; its entry is kept); answers the names of the thread files it read.
 */
export async function rebuildIndex(parts: RecoveryParts, index: ThreadIndex): Promise<Set<string>> {
  const { dir, onCorrupt } = parts.config;
  const mtimeMs = statSync(dir).mtimeMs;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    throw new SystemError(`cannot read the thread directory ${dir}`, { cause: error });
  }
  let sliceEnd = performance.now() + SLICE_MS;
  const read = new Set<string>();
  for (const name of names) {
    const id = name.endsWith(THREAD_FILE_EXT) ? decodeThreadId(name.slice(0, -THREAD_FILE_EXT.length)) : undefined;
    if (id === undefined) continue;
    read.add(name);
    const file = parts.threads.fileOf(name.slice(0, -THREAD_FILE_EXT.length));
    try {
      const content = parts.threads.load(id, file, false);
      const known = content === undefined ? undefined : index.get(id);
      if (content !== undefined && isCutBack(known, content)) {
        // The snapshot or the log knows a later version was committed: the file lost lines.
        parts.threads.cutBack.set(id, content.size);
        onCorrupt(id, cutBackError(file, content, known));
      } else if (content !== undefined) {
        index.apply(entryOf(content, content.size), true);
      }
    } catch (error) {
      // An entry that cannot be read (no file, no permission) is skipped and reported, as a
      // corrupt one is; a failure of the process's own (out of descriptors, of memory) is not.
      if (!(error instanceof CorruptThreadFileError) && !(error instanceof SystemError && !isProcessWide(error.cause))) throw error;
      onCorrupt(id, error);
    }
    if (performance.now() > sliceEnd) {
      await yieldToLoop();
      sliceEnd = performance.now() + SLICE_MS;
    }
  }
  index.noteDirMtime(mtimeMs);
  return read;
}
