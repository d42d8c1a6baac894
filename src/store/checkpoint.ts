import { openSync, unlinkSync } from 'node:fs';
import { SystemError } from '../errors.js';
import { listSegments, readRecords, segmentFile } from './commitLog.js';
import { closeQuietly, fsyncFd, isCode, syncDir } from './fileIo.js';
import type { FileStoreParts } from './fileStoreParts.js';
import { finishDeletion } from './fileWrites.js';
import type { IndexEntry } from './indexEntry.js';
import { writeSnapshot } from './indexSnapshot.js';
import { encodeThreadId } from './threadFile.js';

const CHECKPOINT_LOCK = '.checkpoint';
/** Thread files flushed at once (the thread pool has four threads by default). */
const FLUSH_PARALLEL = 4;

/**
 * A checkpoint, run after the commit log started a new segment: the older segments are sealed.
 * Removes the files deletions they logged left (see `finishDeletion`), flushes every thread file
 * they wrote (once per file, however many appends it took) and the directory, saves the index as
 * a snapshot covering them, and deletes them. One process at a time (a lock file); when another
 * holds it, this one does nothing. A crash at any step leaves the
 * segments in place for the next checkpoint.
 */
export async function checkpoint(parts: FileStoreParts): Promise<void> {
  const release = parts.locks.tryAcquire(CHECKPOINT_LOCK);
  if (release === undefined) return;
  try {
    const { indexDir, dir, fsync } = parts.config;
    parts.log.catchUp();
    const current = parts.log.position.gen;
    const sealed = listSegments(indexDir).filter((gen) => gen < current);
    if (sealed.length === 0) return;
    const { stems, tombstones } = readSealed(parts, sealed);
    // A deleter killed between its tombstone and removing the file left the file: once the
    // segment is gone no one would know to remove it.
    for (const tombstone of tombstones.values()) if (parts.index.get(tombstone.id) === undefined) await finishDeletion(parts, tombstone);
    if (fsync) {
      await flushThreadFiles(parts, stems);
      await syncDir(dir);
    }
    await writeSnapshot(indexDir, parts.index, parts.log.position, { fsync, locks: parts.locks });
    for (const gen of sealed) {
      try {
        unlinkSync(segmentFile(indexDir, gen));
      } catch (error) {
        if (!isCode(error, 'ENOENT')) throw new SystemError(`cannot delete the commit log segment ${segmentFile(indexDir, gen)}`, { cause: error });
      }
    }
    if (fsync) await syncDir(indexDir);
  } finally {
    release();
  }
}

/** The thread files the segments wrote (their stems), and the last tombstone of each thread they deleted. */
function readSealed(parts: FileStoreParts, segments: readonly number[]): { stems: Set<string>; tombstones: Map<string, IndexEntry> } {
  const stems = new Set<string>();
  const tombstones = new Map<string, IndexEntry>();
  for (const gen of segments) {
    let fd: number;
    try {
      fd = openSync(segmentFile(parts.config.indexDir, gen), 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT')) continue;
      throw new SystemError(`cannot open the commit log segment ${segmentFile(parts.config.indexDir, gen)}`, { cause: error });
    }
    try {
      readRecords(fd, 0, false, (records) => {
        for (const record of records) {
          const stem = encodeThreadId(record.entry.id);
          if (stem !== undefined) stems.add(stem);
          if (record.deleted === true) tombstones.set(record.entry.id, record.entry);
        }
      });
    } finally {
      closeQuietly(fd);
    }
  }
  return { stems, tombstones };
}

/** Flushes each thread file, a few at a time. */
async function flushThreadFiles(parts: FileStoreParts, stems: ReadonlySet<string>): Promise<void> {
  const queue = [...stems];
  const worker = async (): Promise<void> => {
    for (let stem = queue.pop(); stem !== undefined; stem = queue.pop()) await flushFile(parts.threads.fileOf(stem));
  };
  await Promise.all(Array.from({ length: FLUSH_PARALLEL }, worker));
}

async function flushFile(file: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return; // removed since: nothing to keep
    throw new SystemError(`cannot open ${file}`, { cause: error });
  }
  try {
    await fsyncFd(fd);
  } finally {
    closeQuietly(fd);
  }
}
