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

/** `Bus.publishStored` on NATS (see there), and the capture table it keeps. */
export interface StoredPublisher {
  /** True once the stream capturing `subject` stored the message; false (nothing sent) when none does. */
  publish(subject: string, message: StoredMessage): Promise<boolean>;
  /** Drops what is known of captures (a stream was created or changed). */
  forget(): void;
}

/**
 * Publishes through JetStream where a stream captures the subject, and waits for its ack: a
 * plain publish gets no answer, and the server can drop it (the stream refusing it, a restart
 * between routing and storing it) after a request sent later on the same connection was answered.
 * The subjects the streams capture are listed once (`$JS.API.STREAM.LIST`) and kept a while, so a
 * report costs no lookup of its own, whatever its subject.
 */
export function storedPublisher(js: JetStreamClient, manager: () => Promise<JetStreamManager>): StoredPublisher {
  let known: { patterns: readonly string[]; until: number } | undefined;
  let listing: Promise<readonly string[]> | undefined;

  async function listCaptures(): Promise<readonly string[]> {
    const patterns: string[] = [];
    for await (const info of (await manager()).streams.list()) patterns.push(...(info.config.subjects ?? []));
    known = { patterns, until: Date.now() + CAPTURES_TTL_MS };
    return patterns;
  }

  async function captured(subject: string): Promise<boolean> {
    let patterns = known !== undefined && known.until > Date.now() ? known.patterns : undefined;
    if (patterns === undefined) {
      listing ??= listCaptures().finally(() => (listing = undefined));
      patterns = await listing;
    }
    return patterns.some((pattern) => subjectMatches(pattern, subject));
  }

  return {
    async publish(subject, { data, msgId, headers }) {
      if (!(await captured(subject))) return false;
      try {
        await retryDeduplicated(() => js.publish(subject, data, { msgID: msgId, ...(headers ? { headers } : {}) }), STORE_RETRY_MS);
      } catch (error) {
        known = undefined; // the stream may be gone: list again next time
        throw error;
      }
      return true;
    },
    forget: () => (known = undefined),
  };
}
