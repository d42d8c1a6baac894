import {
  BusError,
  type Bus,
  type BusErrorContext,
  type BusHandler,
  type BusHeaders,
  type BusMessage,
  type BusOptions,
  type BusPayload,
  type JsonParseResult,
  type RespondOptions,
} from './bus.js';

/** How long a request waits for its reply when `RequestOptions.timeoutMs` is not given. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a {@link BusPayload}: bytes as is, strings as UTF-8, anything else as JSON. */
export function encodePayload(payload: BusPayload): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  if (typeof payload === 'string') return encoder.encode(payload);
  const json = JSON.stringify(payload);
  // JSON.stringify returns undefined for functions and symbols; send nothing rather than "undefined".
  return json === undefined ? new Uint8Array(0) : encoder.encode(json);
}

/**
 * The bytes a message takes against {@link Bus.maxMessageBytes}: its payload and its headers as
 * NATS encodes them (`NATS/1.0`, then `\r\n<name>: <value>` each, then `\r\n\r\n`; none when
 * there are none).
 */
export function messageBytes(payload: Uint8Array, headers: BusHeaders = {}): number {
  const entries = Object.entries(headers);
  if (entries.length === 0) return payload.length;
  let bytes = 'NATS/1.0'.length + '\r\n\r\n'.length;
  for (const [name, value] of entries) bytes += encoder.encode(`\r\n${name}: ${value}`).length;
  return payload.length + bytes;
}

/** {@link Bus.maxMessageBytes} of `bus`, `Infinity` for a bus that does not say. */
export function largestMessageOf(bus: Pick<Bus, 'maxMessageBytes'>): number {
  return bus.maxMessageBytes?.() ?? Infinity;
}

/** Decodes bytes as UTF-8 (invalid sequences become U+FFFD). */
export function decodeText(data: Uint8Array): string {
  return decoder.decode(data);
}

/** Refuses bytes that are not UTF-8 (instead of reading them as U+FFFD); drops a byte order mark. */
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes from outside as UTF-8 text, or undefined when they are not UTF-8: nothing is read as
 * U+FFFD, so nothing from outside is changed on its way in (a leading byte order mark is dropped).
 */
export function strictUtf8(data: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(data);
  } catch {
    return undefined;
  }
}

/** Parses bytes as JSON without throwing; bytes that are not UTF-8 are no JSON ({@link strictUtf8}). */
export function parseJson(data: Uint8Array): JsonParseResult {
  if (data.length === 0) return { success: false, error: 'empty payload is not JSON' };
  const text = strictUtf8(data);
  if (text === undefined) return { success: false, error: 'payload is not valid UTF-8' };
  try {
    return { success: true, data: JSON.parse(text) as unknown };
  } catch (error) {
    return { success: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Builds a {@link BusMessage} (headers are copied and frozen). */
export function createBusMessage(
  subject: string,
  data: Uint8Array,
  headers: Record<string, string> = {},
  reply?: string,
): BusMessage {
  const frozen: BusHeaders = Object.freeze({ ...headers });
  const msg: BusMessage = {
    subject,
    data,
    headers: frozen,
    text: () => decodeText(data),
    json: () => parseJson(data),
  };
  return reply === undefined ? msg : { ...msg, reply };
}

/** Publishes `payload` to a message's reply subject (the `respond` of every bus). */
export async function respondTo(
  publish: (subject: string, payload: BusPayload, options: { headers?: BusHeaders }) => Promise<void>,
  msg: BusMessage,
  payload: BusPayload,
  options: RespondOptions = {},
): Promise<void> {
  if (msg.reply === undefined) throw new BusError('no_reply', `message on ${msg.subject} has no reply subject`);
  await publish(msg.reply, payload, options.headers ? { headers: options.headers } : {});
}

/** Reports a handler or background error to the bus's `onError`, which must not break the bus either. */
export function errorReporter(onError: BusOptions['onError']): (error: unknown, context: BusErrorContext) => void {
  return (error, context) => {
    try {
      onError?.(error, context);
    } catch {
      // onError must not break the bus either
    }
  };
}

/** Calls a subscription's handler; what it throws or rejects with goes to `report`, never to the caller. */
export function invokeHandler(
  handler: BusHandler,
  msg: BusMessage,
  report: (error: unknown, context: BusErrorContext) => void,
): void {
  try {
    const result = handler(msg);
    if (result && typeof result.then === 'function') {
      result.then(undefined, (error: unknown) => report(error, { subject: msg.subject }));
    }
  } catch (error) {
    report(error, { subject: msg.subject });
  }
}
