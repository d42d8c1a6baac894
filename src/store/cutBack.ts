import type { FileStoreParts } from './fileStoreParts.js';
import type { IndexEntry } from './indexEntry.js';
import type { CachedThread } from './threadCache.js';
import type { ThreadFileContent } from './threadFile.js';
import { CorruptThreadFileError } from './threadFiles.js';

/**
 * A thread file cut back behind lines the store committed: what a partial restore, an interrupted
 * copy or damage to the file system leaves, never a writer of the store (a torn tail is only ever
 * the last, unacknowledged write, and the commit log gives back what a machine crash took). The
 * index (the snapshot and the log's records) knows the version each thread was committed at, so
 * a file holding fewer events is corruption, reported as such: taken as the truth, it would rewind
 * the thread (an ended thread would run again, and its tools with it).
 *
 * Checked where a file is read anyway (`get`, a write, a listing's re-read, a rebuild of the
 * index), so opening the store still reads no thread file.
 */

/**
 * Whether `content`, read from a thread's file, holds fewer events than `known` (the index's
 * entry of the same incarnation of the thread: creation time and agent alike) says were committed.
 */
export function isCutBack(known: IndexEntry | undefined, content: ThreadFileContent): known is IndexEntry {
  return known !== undefined && content.state.version < known.version && known.createdAt === content.createdAt && known.agent === content.thread.agent;
}

/** The error a cut-back thread file is reported with. */
export function cutBackError(file: string, content: ThreadFileContent, known: IndexEntry): CorruptThreadFileError {
  return new CorruptThreadFileError(
    known.id,
    file,
    `it holds version ${content.state.version}, but version ${known.version} was committed: committed lines were lost behind the store's back (a partial restore or an interrupted copy?)`,
    content.goodSize,
  );
}

/**
 * `content` (the thread as its file was just read) when it holds every version the index knows
 * was committed; throws {@link CorruptThreadFileError} when it holds fewer. Before it throws, it
 * reads the log and then the file again: an index behind the log may not know yet that the thread
 * was deleted and created again (a file read after the log holds every line the log tells of:
 * lines go to the file before their records go to the log). Answers the file read again then
 * (`undefined` when it is gone).
 */
export function checkCommitted(parts: FileStoreParts, id: string, file: string, content: CachedThread): CachedThread | undefined {
  const committed = parts.index.versionOf(id);
  if (committed === undefined || content.state.version >= committed || !isCutBack(parts.index.get(id), content)) return content;
  parts.log.catchUp();
  const again = parts.threads.load(id, file, false);
  const known = parts.index.get(id);
  if (again === undefined || !isCutBack(known, again)) return again;
  parts.threads.cache.delete(id);
  throw cutBackError(file, again, known);
}
