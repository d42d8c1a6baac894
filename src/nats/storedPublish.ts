import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { subjectMatches } from '../bus/subject.js';
import { retryDeduplicated } from './unanswered.js';

/** How long the subjects the streams capture are trusted before they are listed again. */
const CAPTURES_TTL_MS = 10_000;
/** How long a stored publish keeps trying while the server does not answer (a restart). */
const STORE_RETRY_MS = 10_000;

/** A stored publish: the message, its msg id, and its headers. */
export interface StoredMessage {
  readonly data: Uint8Array;
  readonly msgId: string;
  readonly headers: MsgHdrs | undefined;
}

/** `Bus.publishStored` on NATS (see there), and the subjects the streams capture, as it knows them. */
export interface StoredPublisher {
  /** Whether a stream captures `subject` (as listed at most 10 s ago). */
  captured(subject: string): Promise<boolean>;
  /** Resolves once the stream capturing `subject` stored the message. */
  publish(subject: string, message: StoredMessage): Promise<void>;
  /** Lists the streams again on the next check (a stream was created, or a publish failed). */
  forget(): void;
}

/**
 * Publishes through JetStream where a stream captures the subject, and waits for its ack: a
 * plain publish gets no answer, and the server can drop it (the stream refusing it, a restart
 * between routing and storing it) after a request sent later on the same connection was answered.
 * The subjects the streams capture are listed once (`$JS.API.STREAM.LIST`) and kept a while, so a
 * report costs no lookup of its own, whatever its subject.
 */
export function storedPublisher(js: JetStreamClient, manager: () => Promise<JetStreamManager>, onListFailed: (error: unknown) => void): StoredPublisher {
  let known: { patterns: readonly string[]; until: number } | undefined;
  let listing: { generation: number; patterns: Promise<readonly string[]> } | undefined;
  /** Counts `forget`s: a listing begun before one does not count after it. */
  let generation = 0;

  async function listCaptures(): Promise<readonly string[]> {
    const asked = generation;
    let patterns: string[] | undefined = [];
    try {
      for await (const info of (await manager()).streams.list()) patterns.push(...(info.config.subjects ?? []));
    } catch (error) {
      // The server away, or no permission for $JS.API.STREAM.LIST: keep what was known, else take
      // none (a plain publish, as reports were before streams were asked about).
      onListFailed(error);
      patterns = undefined;
    }
    const listed = { patterns: patterns ?? known?.patterns ?? [], until: Date.now() + CAPTURES_TTL_MS };
    if (asked === generation) known = listed;
    return listed.patterns;
  }

  function forget(): void {
    generation++;
    if (known !== undefined) known = { ...known, until: 0 }; // listed again, but kept if that fails
  }

  async function captured(subject: string): Promise<boolean> {
    let patterns = known !== undefined && known.until > Date.now() ? known.patterns : undefined;
    if (patterns === undefined) {
      if (listing?.generation !== generation) {
        const mine = { generation, patterns: listCaptures() };
        listing = mine;
        void mine.patterns.finally(() => {
          if (listing === mine) listing = undefined;
        });
      }
      patterns = await listing.patterns;
    }
    return patterns.some((pattern) => subjectMatches(pattern, subject));
  }

  return {
    captured,
    async publish(subject, { data, msgId, headers }) {
      try {
        await retryDeduplicated(() => js.publish(subject, data, { msgID: msgId, ...(headers ? { headers } : {}) }), STORE_RETRY_MS);
      } catch (error) {
        forget(); // the stream may be gone: list again next time
        throw error;
      }
    },
    forget,
  };
}
