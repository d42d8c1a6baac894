import { fstatSync, statSync } from 'node:fs';
import { InvalidInputError, NotFoundError, SystemError, VersionConflictError } from '../errors.js';
import type { Thread, ThreadEvent } from '../thread/events.js';
import { deriveState, reduceState, withState } from '../thread/state.js';
import { checkAppend, checkNotEnded, checkThread, deepFreeze } from './checkEvents.js';
import { encodeDeletion, encodeRecord, lineOf } from './commitRecord.js';
import { checkCommitted, cutBackError, isCutBack } from './cutBack.js';
import { isCode, readPrefix, statIfExists, syncDir, type FileStamp } from './fileIo.js';
import type { FileStoreParts } from './fileStoreParts.js';
import { entryOf, type IndexEntry } from './indexEntry.js';
import type { CachedThread } from './threadCache.js';
import { CorruptThreadFileError } from './threadFiles.js';
import { encodeThreadId, formatLine } from './threadFile.js';

/**
 * The write path of the file store. Under the thread's locks, a write puts its line in the thread
 * file (no flush), records the thread's new summary in the index, and hands the commit log a record
 * of both; it resolves once the log has it on the disk (one flush for every write of the batch).
 * If the log fails, the thread file is cut back: the write committed nothing.
 */

/** `create` of the file store. */
export async function createThread(parts: FileStoreParts, thread: Thread): Promise<Thread> {
  const copy = checkThread(thread);
  const stem = encodeThreadId(copy.id);
  if (stem === undefined) {
    throw new InvalidInputError(`thread id ${JSON.stringify(copy.id)} cannot be stored`, [
      'id: must be well-formed Unicode and at most 200 bytes once escaped',
    ]);
  }
  const { id, agent } = copy;
  const file = parts.threads.fileOf(stem);
  return parts.threadLocks.run(id, stem, async () => {
    // The tombstone of an earlier thread of this id, logged by whoever held the lock before us, is
    // applied before this thread's entry (read after it, it would drop the new thread).
    parts.log.catchUp();
    const at = new Date(parts.config.clock.now()).toISOString();
    const line = formatLine(copy.events.length, copy.events, { id, agent, at });
    let fd: number | undefined;
    let dirMtimeMs: number | undefined;
    try {
      fd = parts.threads.createFile(file);
      dirMtimeMs = statSync(parts.config.dir).mtimeMs;
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
      const existing = parts.threads.load(id, file, true);
      if (existing !== undefined) throw new VersionConflictError(id, 0, existing.state.version);
      // The file has no complete header: a create that died mid-write. We hold the lock, so no one
      // is writing it now; it is ours to rewrite.
      fd = parts.threads.openForWrite(id, file);
      if (fd === undefined) throw new SystemError(`thread file ${file} vanished while being created`);
    }
    const events = Object.freeze(deepFreeze(copy.events));
    const lineBytes = Buffer.byteLength(line);
    const content = { thread: Object.freeze({ id, agent, events }), state: deriveState(events), createdAt: events[0]?.at ?? at, goodSize: lineBytes };
    const entry = entryOf(content, lineBytes);
    const record = encodeRecord(entry, 0, line, dirMtimeMs);
    let stamp: FileStamp;
    try {
      stamp = parts.threads.writeAt(fd, file, lineOf(record, lineBytes), 0, fstatSync(fd));
      if (dirMtimeMs !== undefined) parts.index.noteDirMtime(dirMtimeMs);
      await commit(parts, entry, record, file, 0);
    } catch (error) {
      if (dirMtimeMs !== undefined) removeCreated(parts, id, file); // set only when this create made the file
      throw error;
    }
    return parts.threads.cache.remember(id, { ...content, ...stamp }, true).thread;
  });
}

/**
 * Removes the file a create made and could not write or commit (a full disk): left empty, it
 * would be a file no record tells of, and the next start would rebuild the index from every
 * thread file. The removal moves the directory's mtime, which the index notes as its own.
 */
function removeCreated(parts: FileStoreParts, id: string, file: string): void {
  try {
    parts.threads.remove(id, file);
    parts.index.noteDirMtime(statSync(parts.config.dir).mtimeMs);
  } catch {
    // left as it is: an empty file is no thread, and the next start's rebuild accounts for it
  }
}

/** `append` of the file store. */
export async function appendToThread(parts: FileStoreParts, id: string, expectedVersion: number, events: readonly ThreadEvent[]): Promise<Thread> {
  const added = checkAppend(id, expectedVersion, events);
  const stem = encodeThreadId(id);
  if (stem === undefined) throw new NotFoundError('thread', id);
  const file = parts.threads.fileOf(stem);
  return parts.threadLocks.run(id, stem, async (lock) => {
    // Re-read under the lock: another process may have appended since this one last looked
    // (unless this store held the lock since its last write here: then no one else can have).
    const fd = parts.threads.openForWrite(id, file, lock.continued);
    const read = fd === undefined ? undefined : parts.threads.load(id, file, true, fd, lock.continued);
    const current = read === undefined ? undefined : checkCommitted(parts, id, file, read);
    if (fd === undefined || current === undefined) throw new NotFoundError('thread', id);
    if (current.state.version !== expectedVersion) throw new VersionConflictError(id, expectedVersion, current.state.version);
    if (added.length === 0) return current.thread;
    checkNotEnded(id, current.thread.events, current.state, added);
    const line = formatLine(expectedVersion + added.length, added);
    const lineBytes = Buffer.byteLength(line);
    // Writing at the end of the good lines cuts off a torn tail left by a writer that died.
    const position = current.goodSize;
    deepFreeze(added);
    let state = current.state;
    for (const event of added) state = reduceState(state, event);
    // The state rides on the frozen array (no weak-map entry for the collector to trace).
    const allEvents = withState(current.thread.events.concat(added), state);
    const thread = Object.freeze({ id, agent: current.thread.agent, events: allEvents });
    const content = { thread, state, createdAt: current.createdAt, goodSize: position + lineBytes };
    const entry = entryOf(content, position + lineBytes);
    // The owner of a lock we broke may have died after writing a line and before logging it: the
    // record then holds the whole file, so the log can give back every line this one follows.
    const record = lock.brokeStale
      ? encodeRecord(entry, 0, Buffer.concat([readPrefix(file, position), Buffer.from(line)]))
      : encodeRecord(entry, position, line);
    let stamp: FileStamp;
    try {
      stamp = parts.threads.writeAt(fd, file, lineOf(record, lineBytes), position, current);
    } catch (error) {
      parts.threads.cache.delete(id);
      throw error;
    }
    await commit(parts, entry, record, file, position);
    return parts.threads.cache.remember(id, { ...content, ...stamp }, true).thread;
  });
}

/**
 * `delete` of the file store. Under the thread's locks, with its version checked against the
 * file: logs a tombstone first and waits for it to be on the disk (that is the deletion: every
 * index drops the thread, and from then on no recovery gives back a line of it), then removes the
 * thread file and flushes the directory, and logs the directory's new mtime (a second tombstone,
 * for the other processes' stale-index check). A crash between the tombstone and the removal
 * leaves the file of a deleted thread: the next store to open the directory, or the checkpoint
 * that seals the tombstone's segment, removes it ({@link finishDeletion}); until then it is
 * listed nowhere, but `get` in other processes may still read it. If the tombstone cannot be
 * logged nothing was removed, and the error says so.
 */
export async function deleteThread(parts: FileStoreParts, id: string, expectedVersion: number): Promise<boolean> {
  const stem = encodeThreadId(id);
  if (stem === undefined) return false;
  const file = parts.threads.fileOf(stem);
  return parts.threadLocks.run(id, stem, async (lock) => {
    const fd = parts.threads.openForWrite(id, file, lock.continued);
    const read = fd === undefined ? undefined : parts.threads.load(id, file, false, fd, lock.continued);
    const current = read === undefined ? undefined : checkCommitted(parts, id, file, read);
    if (current === undefined) return false;
    if (current.state.version !== expectedVersion) throw new VersionConflictError(id, expectedVersion, current.state.version);
    // Records of the thread logged before we took its lock are applied now, not after it is gone.
    parts.log.catchUp();
    const entry = entryOf(current, current.size);
    try {
      await parts.log.commit(encodeDeletion(entry));
    } catch (error) {
      throw new SystemError(`thread ${id} was not deleted: its deletion could not be logged`, { cause: error });
    }
    parts.index.remove(id);
    try {
      parts.threads.remove(id, file);
      if (parts.config.fsync) await syncDir(parts.config.dir);
    } catch (error) {
      throw new SystemError(`thread ${id} was deleted, but its file could not be removed (the next start removes it)`, { cause: error });
    }
    const dirMtimeMs = statSync(parts.config.dir).mtimeMs;
    parts.index.noteDirMtime(dirMtimeMs);
    // Only the other processes' stale-index check needs it: if it is lost, a dead lock or a rebuild covers it.
    await parts.log.commit(encodeDeletion(entry, dirMtimeMs)).catch(() => undefined);
    return true;
  });
}

/** Whether `content` is the incarnation of its thread that `tombstone` deleted (not one created after it). */
export function isDeletedBy(content: CachedThread, tombstone: IndexEntry): boolean {
  return content.createdAt === tombstone.createdAt && content.thread.agent === tombstone.agent && content.state.version <= tombstone.version;
}

/**
 * Finishes a deletion whose tombstone is logged but whose file a crash left: under the thread's
 * locks, removes the file when it holds the deleted incarnation ({@link isDeletedBy}). A file of
 * another incarnation (created again by a writer that died before logging it), a corrupt one, or
 * none, is left as it is. Answers whether it removed the file.
 */
export async function finishDeletion(parts: Pick<FileStoreParts, 'config' | 'threads' | 'threadLocks' | 'index'>, tombstone: IndexEntry): Promise<boolean> {
  const { id } = tombstone;
  const stem = encodeThreadId(id);
  if (stem === undefined) return false;
  const file = parts.threads.fileOf(stem);
  if (statIfExists(file) === undefined) return false;
  return parts.threadLocks.run(id, stem, async () => {
    let content: CachedThread | undefined;
    try {
      content = parts.threads.load(id, file, false);
    } catch (error) {
      if (error instanceof CorruptThreadFileError) return false;
      throw error;
    }
    if (content === undefined || !isDeletedBy(content, tombstone)) return false;
    parts.threads.remove(id, file);
    if (parts.config.fsync) await syncDir(parts.config.dir);
    // The removal moved the directory's mtime: the index knows why, so the next open need not rebuild it.
    parts.index.noteDirMtime(statSync(parts.config.dir).mtimeMs);
    return true;
  });
}

/**
 * Records a write whose line is in the thread file: in the index, then in the commit log. The
 * index learns of it first so that a checkpoint saving the index never misses a record it deletes
 * from the log. If the log fails, the thread file is cut back to `rollbackTo`.
 */
async function commit(parts: FileStoreParts, entry: IndexEntry, record: Buffer, file: string, rollbackTo: number): Promise<void> {
  parts.index.apply(entry);
  try {
    await parts.log.commit(record);
  } catch (error) {
    parts.threads.truncate(file, rollbackTo);
    parts.threads.cache.delete(entry.id);
    reindex(parts, entry.id, file, true);
    throw error;
  }
}

/**
 * Brings the index entry of a thread in line with its file. A file cut back behind the version
 * the index knows was committed (see `cutBack.ts`) is reported corrupt (once for each size it is
 * found at) and left out, its entry kept, unless `rolledBack`: the caller cut it back itself,
 * undoing a write the log failed to commit.
 */
export function reindex(parts: FileStoreParts, id: string, file: string, rolledBack = false): IndexEntry | undefined {
  try {
    const content = parts.threads.load(id, file, false);
    if (content === undefined) {
      parts.index.remove(id);
      return undefined;
    }
    const known = parts.index.get(id);
    if (!rolledBack && isCutBack(known, content)) {
      if (parts.threads.cutBack.get(id) !== content.size) {
        parts.threads.cutBack.set(id, content.size);
        parts.config.onCorrupt(id, cutBackError(file, content, known));
      }
      return undefined;
    }
    parts.threads.cutBack.delete(id);
    const entry = entryOf(content, content.size);
    parts.index.apply(entry, true);
    return entry;
  } catch (error) {
    parts.index.remove(id);
    if (error instanceof CorruptThreadFileError) parts.config.onCorrupt(id, error);
    else if (!(error instanceof SystemError)) throw error;
    return undefined;
  }
}
