import type { Client } from './client.js';
import { shellQuote } from './format.js';

/** What {@link unservedNote} builds. */
export interface UnservedNote {
  /** Asks the server about `agent` (the thread of it went quiet); resolves once the answer is handled. */
  ask(agent: string): Promise<void>;
  /** The follow ended: an answer still coming is not said. */
  close(): void;
}

/**
 * The note of a follow on a thread that stays quiet: asked to, it asks `GET /agents` (one request at
 * a time) and, when the agent is `served: false` (a `serve --no-worker` that sees no worker for it),
 * says so once on stderr with how to start one. Said at most once; nothing when the agent is served
 * or the server does not say (it runs the threads itself); a failed request is ignored.
 */
export function unservedNote(client: Client, err: (line: string) => void, prefix: string): UnservedNote {
  let said = false;
  let asking = false;
  let closed = false;
  return {
    async ask(agent) {
      if (said || asking || closed) return;
      asking = true;
      try {
        const listed = await client.agents();
        if (said || closed || listed.find((a) => a.name === agent)?.served !== false) return;
        said = true;
        err(`note: no worker serves ${agent}, so its thread waits (still following): start one on the server's NATS (same --prefix and --bucket): ${prefix} worker --agents ${shellQuote(agent)}`);
      } catch {
        // The server did not answer (it restarts, an old one has no GET /agents): the follow goes on.
      } finally {
        asking = false;
      }
    },
    close() {
      closed = true;
    },
  };
}
