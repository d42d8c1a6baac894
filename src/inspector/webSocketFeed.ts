// Feeds a @statelyai/inspect WebSocket inspector (Stately's own UI) with the messages the bus
// inspector publishes. @statelyai/inspect is loaded only when a URL is given.
import type { InspectionMessage } from './inspectionMessages.js';

/** A feed of inspection messages to one WebSocket inspector. */
export interface WebSocketFeed {
  /** Sends a message (buffered until connected; the 200 latest are kept). Never throws. */
  send(message: InspectionMessage): void;
  /** Stops sending and reconnecting. */
  close(): void;
}

/** The part of @statelyai/inspect's WebSocket adapter the feed uses. */
interface Adapter {
  send(event: unknown): void;
  ws?: WsLike;
}

/** The part of a WebSocket (browser's or the `ws` package's) the feed silences. */
interface WsLike {
  on?(event: string, listener: () => void): void;
  terminate?(): void;
  close(): void;
  onerror: unknown;
  onclose: unknown;
  onopen: unknown;
}

const MAX_EARLY = 200;

/**
 * Feeds a @statelyai/inspect WebSocket inspector at `url`. Its adapter buffers while disconnected and
 * retries every 5 s; closing stops the retries too. Failures go to `report`, never to the caller.
 */
export function createWebSocketFeed(url: string, report: (error: unknown) => void): WebSocketFeed {
  let send: ((message: InspectionMessage) => void) | undefined;
  let stop: (() => void) | undefined;
  let closed = false;
  const early: InspectionMessage[] = [];
  import('@statelyai/inspect')
    .then(({ createWebSocketInspector }) => {
      if (closed) return;
      const inspector = createWebSocketInspector({ url, autoStart: false });
      const adapter = inspector.adapter as unknown as Adapter;
      stop = guardSocket(adapter, () => closed);
      inspector.start();
      send = (message) => adapter.send(message);
      for (const message of early.splice(0)) send(message);
    })
    .catch(report);
  return {
    send(message) {
      if (closed) return;
      try {
        if (send) send(message);
        else if (early.push(message) > MAX_EARLY) early.shift();
      } catch (error) {
        report(error);
      }
    },
    close() {
      closed = true;
      try {
        stop?.();
      } catch (error) {
        report(error);
      }
    },
  };
}

/**
 * The adapter reconnects forever on errors: once `closed()`, a reconnect gets a socket that is
 * silenced and terminated at once, which ends the loop. Returns what closes the current socket.
 */
function guardSocket(adapter: Adapter, closed: () => boolean): () => void {
  let current: WsLike | undefined;
  const inert = { onerror: null, onclose: null, onopen: null, onmessage: null, close() {}, send() {} };
  Object.defineProperty(adapter, 'ws', {
    configurable: true,
    get: () => (closed() ? inert : current),
    set: (ws: WsLike) => {
      if (closed()) quiet(ws);
      else current = ws;
    },
  });
  return () => quiet(current);
}

/** Silences a socket's handlers and closes it. */
function quiet(ws: WsLike | undefined): void {
  if (ws === undefined) return;
  ws.onerror = null;
  ws.onclose = null;
  ws.onopen = null;
  ws.on?.('error', () => {});
  try {
    if (ws.terminate) ws.terminate();
    else ws.close();
  } catch {
    // already closed
  }
}
