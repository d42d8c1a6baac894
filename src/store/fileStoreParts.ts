import type { CommitLog } from './commitLog.js';
import type { CommitRecord } from './commitRecord.js';
import type { FileStoreConfig } from './fileStoreConfig.js';
import type { LockOwner } from './fileLock.js';
import type { ThreadFiles } from './threadFiles.js';
import type { ThreadIndex } from './threadIndex.js';
import type { ThreadLocks } from './threadLocks.js';

/** What the pieces of one file store share (built by `createFileStore`). */
export interface FileStoreParts {
  readonly config: FileStoreConfig;
  readonly threads: ThreadFiles;
  readonly locks: LockOwner;
  /** The index; replaced when it has to be loaded again (see `CommitLogOptions.onGap`). */
  index: ThreadIndex;
  log: CommitLog;
  /** The thread locks: `threadLocks.run(id, stem, work)` runs work holding one. */
  readonly threadLocks: ThreadLocks;
}

/** Applies records of the commit log to an index: newest version wins; a tombstone drops its thread. */
export function applyRecords(index: ThreadIndex, records: readonly CommitRecord[]): void {
  for (const record of records) {
    if (record.deleted === true) index.removeDeleted(record.entry);
    else index.apply(record.entry);
    if (record.dirMtimeMs !== undefined) index.noteDirMtime(record.dirMtimeMs);
  }
}
