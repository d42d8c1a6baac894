import type { MiddlewareHandler } from 'hono';

/** Bounds of {@link drainRejectedBody}. */
export interface DrainOptions {
  /** Bytes read and discarded at most. */
  readonly maxBytes: number;
  /** Time spent discarding at most. */
  readonly maxMs: number;
}

/**
 * Makes a 413 reach a client that is still uploading. hono's `bodyLimit` answers without reading
 * the rest of the body; @hono/node-server then stops reading and resets the connection, and a client
 * still sending (`fetch` among them) sees "other side closed" instead of the 413. Placed before
 * `bodyLimit`, this middleware reads and discards what is left of a rejected body, within bounds
 * (so an endless upload cannot pin the connection), before the response goes out.
 */
export function drainRejectedBody(options: DrainOptions): MiddlewareHandler {
  const { maxBytes, maxMs } = options;
  return async function drainRejected(c, next) {
    const original = c.req.raw.body;
    if (original === null) return next();
    const source = original.getReader();
    // bodyLimit and the routes read this stream; the reader of the original stays ours.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await source.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => source.cancel(reason),
    });
    c.req.raw = new Request(c.req.raw, { body, duplex: 'half' } as RequestInit);
    await next();
    if (c.res.status === 413) await discard(source, maxBytes, maxMs);
  };
}

async function discard(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number, maxMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), maxMs);
  });
  try {
    for (let read = 0; read <= maxBytes; ) {
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === 'timeout' || chunk.done) break;
      read += chunk.value.byteLength;
    }
  } catch {
    // The client went away: nothing left to drain.
  } finally {
    // Not cancelled: that would reset the connection before the 413 is written.
    clearTimeout(timer);
  }
}
