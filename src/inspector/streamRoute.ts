// `GET /inspector/stream`: actor and thread changes as server-sent events, coalesced.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { sseLifetime } from '../server/sse.js';
import type { ActorRecord, ProcessPresence } from './actorRegistry.js';
import type { LiveFeed, ThreadRow } from './liveFeed.js';

/** What the stream needs besides the feed. */
export interface StreamOptions {
  readonly heartbeatMs: number;
  /** How long updates are gathered (and coalesced per actor and per thread) before they are sent. */
  readonly intervalMs: number;
  readonly maxActors: number;
  /** Aborted when the inspector closes: open streams end. */
  readonly shutdown: AbortSignal;
}

/**
 * The stream: `hello` (`{ processes, maxActors }`), the recent actors as a first `actors` event,
 * then `deleted` (the ids of threads the runtime deleted), `actors`, `processes` (`{ processId,
 * live }`: gone, or heard from again) and `threads` batches, each naming a thread, an actor or a
 * process at most once.
 */
export function streamRoute(feed: LiveFeed, options: StreamOptions): (c: Context) => Response | Promise<Response> {
  const { heartbeatMs, intervalMs, maxActors, shutdown } = options;
  return (c) =>
    streamSSE(c, async (stream) => {
      const actors = new Map<string, ActorRecord>();
      const processes = new Map<string, ProcessPresence>();
      const threads = new Map<string, ThreadRow>();
      const deleted = new Map<string, string>();
      let wake: (() => void) | undefined;
      const life = sseLifetime(c, stream, { heartbeatMs, shutdown, onEnd: () => wake?.() });
      const unlisten = feed.listen((update) => {
        if (update.actor) actors.set(update.actor.key, update.actor);
        if (update.process) processes.set(update.process.processId, update.process);
        if (update.thread) threads.set(update.thread.id, update.thread);
        if (update.deleted !== undefined) {
          // What was gathered of it before its deletion is not sent; what comes after (a thread
          // launched again under its id) is, after the deletion. The registry forgot its actors
          // and the ones they spawned (steps, which name no thread) already: none of them goes.
          const id = update.deleted;
          threads.delete(id);
          for (const key of actors.keys()) if (feed.registry.get(key) === undefined) actors.delete(key);
          deleted.set(id, id);
        }
        wake?.();
      });
      const send = async (event: string, batch: Map<string, unknown>): Promise<void> => {
        if (batch.size === 0) return;
        const data = JSON.stringify([...batch.values()]);
        batch.clear();
        await stream.writeSSE({ event, data });
      };
      try {
        await stream.writeSSE({ event: 'hello', data: JSON.stringify({ processes: feed.registry.processes(), maxActors }) });
        await stream.writeSSE({ event: 'actors', data: JSON.stringify(feed.registry.list({ limit: 500 }).reverse()) });
        while (!life.signal.aborted) {
          if (actors.size === 0 && processes.size === 0 && threads.size === 0 && deleted.size === 0) {
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
            continue;
          }
          // Gather for a moment: bursts of snapshots become one message, one entry per actor.
          await new Promise((resolve) => setTimeout(resolve, intervalMs));
          if (life.signal.aborted) break;
          await send('deleted', deleted);
          // A gone process's stopped actors come before its notice, in the same turn.
          await send('actors', actors);
          await send('processes', processes);
          await send('threads', threads);
        }
      } catch {
        // The client went away mid-write.
      } finally {
        life.dispose();
        unlisten();
      }
    });
}
