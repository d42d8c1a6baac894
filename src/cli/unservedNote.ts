import { closestName } from '../errors.js';
import { TERMINAL_STATUSES, type ThreadStatus } from '../thread/state.js';
import type { Client } from './client.js';
import { shellQuote } from './format.js';

/** What {@link unservedNote} builds. */
export interface UnservedNote {
  /**
   * Asks the server about `agent` (the thread of it went quiet, at `status` when known); resolves
   * once the answer is handled.
   */
  ask(agent: string, status?: ThreadStatus): Promise<void>;
  /** The follow ended: an answer still coming is not said. */
  close(): void;
}

/**
 * The note of a follow on a thread that stays quiet: asked to, it asks `GET /agents` (one request at
 * a time) and, when the agent is `served: false` (a `serve --no-worker` that sees no worker for it),
 * says so once on stderr with how to start one. A thread that waits for a human answer (or a
 * resume) is said to wait for that, with a worker needed after it: the missing worker is not what
 * holds it. Said at most once; nothing when the agent is served or the server does not say (it
 * runs the threads itself); a failed request is ignored.
 */
export function unservedNote(client: Client, err: (line: string) => void, prefix: string): UnservedNote {
  let said = false;
  let asking = false;
  let closed = false;
  return {
    async ask(agent, status) {
      if (said || asking || closed) return;
      asking = true;
      try {
        const listed = await client.agents();
        if (said || closed || listed.find((a) => a.name === agent)?.served !== false) return;
        said = true;
        const start = `start one on the server's NATS (same --prefix and --bucket): ${prefix} worker --agents ${shellQuote(agent)}`;
        const after = status === 'awaiting_human' || status === 'escalated' ? ['waits for a human answer', 'the answer'] : status === 'paused' ? ['is paused', 'a resume'] : undefined;
        err(
          after === undefined
            ? `note: no worker serves ${agent}, so its thread waits (still following): ${start}`
            : `note: the ${agent} thread ${after[0]} (still following), and no worker serves ${agent}: one will be needed to continue after ${after[1]}; ${start}`,
        );
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

/**
 * The note `show` prints for a thread that has not ended whose agent (or pipeline) `agent` is not
 * among those the server runs (a deploy dropped or renamed it): its status, "sleeping, wakes at"
 * or waiting for an answer, would read as if something will move it on. Undefined when the server
 * has it, the thread ended, or the server did not answer (a note is not worth failing `show`).
 */
export async function absentAgentNote(client: Client, agent: string, status: ThreadStatus): Promise<string | undefined> {
  if (TERMINAL_STATUSES.includes(status)) return undefined;
  const names = await servedNames(client);
  if (names === undefined || names.includes(agent)) return undefined;
  const has = names.length === 0 ? 'none' : names.join(', ');
  return `note: agent ${agent} is not in the project this server runs (it has: ${has}): nothing moves this thread on until a version that has ${agent} is served`;
}

/**
 * The note `threads --agent <agent>` prints when it found no thread and the server serves no agent
 * or pipeline of that name (a typo, or a list: `--agent` takes one name); undefined otherwise, and
 * when the server does not answer `GET /agents`.
 */
export async function unknownAgentFilterNote(client: Client, agent: string): Promise<string | undefined> {
  const names = await servedNames(client);
  if (names === undefined || names.includes(agent)) return undefined;
  const has = names.length === 0 ? 'none' : names.join(', ');
  const close = closestName(agent, names);
  return `note: no agent or pipeline named ${agent} is served (${close === undefined ? '' : `did you mean ${close}? `}the server has ${has})${agent.includes(',') ? '; --agent takes one name' : ''}`;
}

/** The names of the agents and pipelines the server serves, or undefined when it does not answer (a note is not worth failing a command). */
async function servedNames(client: Client): Promise<string[] | undefined> {
  try {
    return (await client.agents()).map((a) => a.name);
  } catch {
    return undefined;
  }
}
