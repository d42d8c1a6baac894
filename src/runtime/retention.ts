import { systemClock, unrefTimer, type Clock } from '../clock.js';
import { ConfigError, InvalidStateError, messageOf, NotFoundError, NotSupportedError, VersionConflictError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { TERMINAL_STATUSES } from '../thread/state.js';
import type { Runtime } from './runtime.js';

/** Options of {@link startRetention}. */
export interface RetentionOptions {
  /** How long after its last update a thread that ended is kept (ms). */
  retainMs: number;
  /** How often the threads are looked through (ms), at least 1000. @default the retention, at most an hour */
  intervalMs?: number | undefined;
  /** Threads deleted at most per round; the rest wait for the next. @default 1000 */
  batch?: number | undefined;
  /** @default the system clock */
  clock?: Clock | undefined;
  /** @default a silent logger */
  logger?: Logger | undefined;
}

/** Retention running in the background (see {@link startRetention}). */
export interface Retention {
  /** Resolves when no round is under way. */
  idle(): Promise<void>;
  /** Starts no more rounds, and waits for the one under way. */
  close(): Promise<void>;
}

/** Threads listed per page of a round's walk. */
const PAGE = 100;
const HOUR_MS = 3_600_000;
/** The shortest interval between rounds: a second. */
const MIN_INTERVAL_MS = 1_000;

/**
 * Deletes, at once and then every `intervalMs`, the threads that ended (done, failed, cancelled)
 * and were last updated more than `retainMs` ago, at most `batch` per round (`serve` with
 * `SWITCHYARD_RETAIN_ENDED`). Each round walks the ended threads last updated before the cutoff
 * (`updatedBefore`: the store reads none of the younger ones) in the store's stable order and
 * deletes through {@link Runtime.delete}: a thread that changed meanwhile, whose call's outcome is
 * still awaited, or a pipeline's child whose pipeline has not ended, is skipped (and tried again next round). A round that did anything
 * logs one line with its counts (a warning when a deletion failed, naming the first error); a
 * store that cannot delete stops the round at its first thread. A round that fails (the store is
 * unreachable) is logged, and the next one tries again. A retention that is not a positive number,
 * an interval under a second or a batch that is not a positive integer is a {@link ConfigError}.
 * Its timer keeps no process alive; `close()` it before the runtime (a round after the runtime
 * closed fails, logged at warn).
 */
export function startRetention(runtime: Pick<Runtime, 'list' | 'delete'>, options: RetentionOptions): Retention {
  const { retainMs, intervalMs = Math.min(retainMs, HOUR_MS), batch = 1_000, clock = systemClock, logger = silentLogger() } = options;
  if (!(retainMs > 0) || !Number.isFinite(retainMs)) throw new ConfigError('retention: retainMs must be a positive number of milliseconds');
  if (!(intervalMs >= MIN_INTERVAL_MS)) throw new ConfigError(`retention: intervalMs must be at least ${MIN_INTERVAL_MS}`);
  if (!Number.isInteger(batch) || batch < 1) throw new ConfigError('retention: batch must be a positive integer');
  let closed = false;
  let timer: unknown;
  let current: Promise<void> = Promise.resolve();

  async function round(): Promise<void> {
    const cutoff = clock.now() - retainMs;
    const counts = { deleted: 0, skipped: 0, failed: 0 };
    let err: string | undefined;
    let more = false;
    let after = '';
    const updatedBefore = new Date(cutoff).toISOString();
    walk: while (!closed) {
      // The store reads only the threads updated before the cutoff (and ends the walk where it can).
      const page = await runtime.list({ status: TERMINAL_STATUSES, after, limit: PAGE, updatedBefore });
      for (const summary of page) {
        if (closed) break walk;
        if (Date.parse(summary.updatedAt) >= cutoff) continue; // a guard: the store filtered them
        if (counts.deleted + counts.failed >= batch) {
          more = true;
          break walk;
        }
        try {
          await runtime.delete(summary.id);
          counts.deleted++;
        } catch (error) {
          if (error instanceof NotSupportedError || !isSkipped(error)) {
            counts.failed++;
            err ??= messageOf(error);
            if (error instanceof NotSupportedError) break walk;
          } else counts.skipped++;
        }
      }
      const last = page.at(-1)?.cursor;
      if (page.length < PAGE || last === undefined) break;
      after = last;
    }
    if (counts.deleted + counts.skipped + counts.failed === 0) return;
    const line = { cutoff: new Date(cutoff).toISOString(), ...counts, more, ...(err === undefined ? {} : { err }) };
    const message = 'retention: deleted the threads that ended before the cutoff';
    if (counts.failed > 0) logger.warn(line, message);
    else logger.info(line, message);
  }

  function run(): void {
    current = round()
      .catch((error: unknown) => logger.warn({ err: messageOf(error) }, 'retention: the round failed; the next one tries again'))
      .then(() => {
        if (closed) return;
        timer = clock.setTimeout(run, intervalMs);
        // A chore in the background: it keeps no process alive that has nothing else to do (a host
        // that closed its runtime and not this one exits, as it does without retention).
        unrefTimer(timer);
      });
  }

  run();
  return {
    idle: () => current,
    async close() {
      closed = true;
      clock.clearTimeout(timer);
      await current;
    },
  };
}

/** A thread that changed meanwhile (moved on, or went), or whose pipeline has not ended: left for the next round. */
function isSkipped(error: unknown): boolean {
  return error instanceof NotFoundError || error instanceof VersionConflictError || error instanceof InvalidStateError;
}
