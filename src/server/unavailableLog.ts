import { isoTime, type Clock } from '../clock.js';
import type { Logger } from '../logger.js';

/** How often, at most, a store outage's failed requests are logged at warn. */
export const UNAVAILABLE_LOG_EVERY_MS = 10_000;

/** Where a request that failed was headed. */
export interface RequestPlace {
  readonly method?: string | undefined;
  readonly path?: string | undefined;
}

/** Logs one request that failed because the store is unavailable. */
export type UnavailableLog = (error: unknown, where: RequestPlace) => void;

/** The message of a request's failure the store's outage caused (held back or not). */
export const UNAVAILABLE_MESSAGE = 'HTTP request failed: the store is unavailable';

/**
 * The log of the requests a store outage fails: the first at warn (its error whole), then at most
 * one line per `everyMs`, with `heldBack`, how many failed since the line before, each of those at
 * debug, and `since`, when the first of them failed (the count may be of an earlier outage). A NATS restart under a few hundred polling clients is then a few lines, not thousands.
 */
export function createUnavailableLog(logger: Logger, clock: Clock, everyMs = UNAVAILABLE_LOG_EVERY_MS): UnavailableLog {
  let lastAt: number | undefined;
  let heldBack = 0;
  let since = 0;
  return (error, where) => {
    const now = clock.now();
    if (lastAt !== undefined && now - lastAt < everyMs) {
      if (heldBack++ === 0) since = now;
      logger.debug({ err: error, ...where }, UNAVAILABLE_MESSAGE);
      return;
    }
    logger.warn({ err: error, ...where, ...(heldBack > 0 ? { heldBack, since: isoTime(since) } : {}) }, UNAVAILABLE_MESSAGE);
    lastAt = now;
    heldBack = 0;
  };
}
