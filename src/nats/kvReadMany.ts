import { createInbox, Empty, type Msg, type NatsConnection } from '@nats-io/transport-node';

/** What {@link readMany} answers for one key. */
export type ReadResult =
  /** The key's current value. */
  | { readonly kind: 'value'; readonly value: Uint8Array }
  /** The key has no value (never written, deleted or purged). */
  | { readonly kind: 'missing' }
  /** No answer in time, or an error status: the caller reads it some other way. */
  | { readonly kind: 'unknown' };

const MISSING: ReadResult = Object.freeze({ kind: 'missing' });
const UNKNOWN: ReadResult = Object.freeze({ kind: 'unknown' });

/** Options of {@link readMany}. */
export interface ReadManyOptions {
  /** The bucket's stream (`KV_<bucket>`). */
  readonly stream: string;
  /** The subject prefix of its keys (`$KV.<bucket>.`). */
  readonly prefix: string;
  /** How long to wait for the answers; the keys not answered by then are `unknown`. */
  readonly timeoutMs: number;
  /** The connection's `inboxPrefix`, when it has one (where the answers come). */
  readonly inboxPrefix?: string;
}

/**
 * The current values of many keys of a KV bucket, read at once: one direct get per key (the
 * `$JS.API.DIRECT.GET.<stream>.<subject>` form `kv.get` uses, nats-server 2.9 and later; the
 * bucket must allow direct gets), all sent together and answered on one inbox. A page of a listing
 * reads a hundred summaries; through `kv.get` each would be its own request, with its own timer,
 * reply handler and the two errors nats.js builds per request for their stack traces, which cost
 * more CPU than the reads themselves.
 *
 * An empty value is `missing`: a thread summary is never empty, and the answer to a key with no
 * value (a 404 status, or a delete marker) has no data. So no answer's headers are parsed.
 */
export async function readMany(nc: NatsConnection, keys: readonly string[], options: ReadManyOptions): Promise<ReadResult[]> {
  const results: ReadResult[] = keys.map(() => UNKNOWN);
  if (keys.length === 0) return results;
  const inbox = createInbox(options.inboxPrefix);
  let left = keys.length;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const onReply = (error: Error | null, msg: Msg): void => {
    if (error !== null) return finish();
    const i = Number(msg.subject.slice(inbox.length + 1));
    if (!Number.isInteger(i) || i < 0 || i >= keys.length || results[i] !== UNKNOWN) return;
    results[i] = answerOf(msg);
    if (--left === 0) finish();
  };
  const sub = nc.subscribe(`${inbox}.*`, { callback: onReply });
  const timer = setTimeout(finish, options.timeoutMs);
  try {
    const base = `$JS.API.DIRECT.GET.${options.stream}.${options.prefix}`;
    for (let i = 0; i < keys.length; i++) nc.publish(base + keys[i]!, Empty, { reply: `${inbox}.${i}` });
    await done;
  } catch {
    // not sent (a closed connection): what was not answered stays unknown
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  return results;
}

function answerOf(msg: Msg): ReadResult {
  if (msg.data.length > 0) return { kind: 'value', value: msg.data };
  // No data: a 404 (no message for the key) or a delete marker is missing; another status (503,
  // no responders; 408) tells nothing.
  const code = msg.headers?.code ?? 0;
  return code === 0 || code === 404 ? MISSING : UNKNOWN;
}
