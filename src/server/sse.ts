import type { Context } from 'hono';
import type { SSEStreamingApi } from 'hono/streaming';

/** What {@link sseLifetime} needs. */
export interface SseLifetimeOptions {
  /** Interval of the comment lines that keep an idle stream open through proxies. */
  readonly heartbeatMs: number;
  /** Aborted when the server shuts down: the stream ends. */
  readonly shutdown?: AbortSignal | undefined;
  /** Called each time something ends the stream (after `signal` aborted), e.g. to wake a waiting loop. */
  readonly onEnd?: () => void;
}

/** The lifetime of one server-sent event stream: see {@link sseLifetime}. */
export interface SseLifetime {
  /** Aborts when the client goes away, the request is aborted or the server shuts down. */
  readonly signal: AbortSignal;
  /** Stops the heartbeat and the listeners, and aborts `signal`. Call it in a `finally`. */
  dispose(): void;
}

/**
 * Ties a server-sent event stream to the client (stream aborted, request aborted) and to the
 * server's shutdown signal, and writes a heartbeat comment every `heartbeatMs`.
 */
export function sseLifetime(c: Context, stream: SSEStreamingApi, options: SseLifetimeOptions): SseLifetime {
  const { heartbeatMs, shutdown, onEnd } = options;
  const stop = new AbortController();
  const end = (): void => {
    stop.abort();
    onEnd?.();
  };
  stream.onAbort(end);
  c.req.raw.signal.addEventListener('abort', end, { once: true });
  shutdown?.addEventListener('abort', end, { once: true });
  if (shutdown?.aborted) end();
  const heartbeat = setInterval(() => void stream.write(': heartbeat\n\n').catch(end), heartbeatMs);
  return {
    signal: stop.signal,
    dispose() {
      clearInterval(heartbeat);
      stop.abort();
      c.req.raw.signal.removeEventListener('abort', end);
      shutdown?.removeEventListener('abort', end);
    },
  };
}
