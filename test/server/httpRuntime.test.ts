/**
 * The HTTP app serves any runtime a user may hand it: a plain object (`createRuntime`'s), a frozen
 * one, and an instance of a class that keeps its methods on its prototype and its state in a
 * private field (which only the instance itself, not a proxy of it, may read). It shows their
 * views masked and refuses work once stopping, without changing what it was given.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Runtime, ThreadView } from '../../src/runtime/runtime.js';
import { createHttpApp } from '../../src/server/httpServer.js';
import { createHarness } from './harness.js';

const closing: Runtime[] = [];
afterEach(async () => {
  while (closing.length > 0) await closing.pop()!.close();
});

/** A class whose instances keep the runtime they call in a private field. */
class DelegatingRuntime {
  readonly #inner: Runtime;
  constructor(inner: Runtime) {
    this.#inner = inner;
  }
  /** Throws a TypeError when `self` is not an instance (a proxy of one is not). */
  static innerOf(self: DelegatingRuntime): Runtime {
    return self.#inner;
  }
}

/** `runtime` as an instance of {@link DelegatingRuntime}, its methods on the prototype. */
function classInstanceOf(runtime: Runtime): Runtime {
  const proto = Object.create(DelegatingRuntime.prototype) as object;
  for (const key of Object.keys(runtime) as (keyof Runtime)[]) {
    Object.defineProperty(
      proto,
      key,
      typeof runtime[key] === 'function'
        ? {
            value: function (this: DelegatingRuntime, ...args: unknown[]) {
              return (DelegatingRuntime.innerOf(this)[key] as (...a: unknown[]) => unknown)(...args);
            },
          }
        : { get: () => runtime[key] },
    );
  }
  const instance = new DelegatingRuntime(runtime);
  Object.setPrototypeOf(instance, proto);
  return instance as unknown as Runtime;
}

const served: Record<string, (runtime: Runtime) => Runtime> = {
  'a frozen runtime': (runtime) => Object.freeze({ ...runtime }),
  'a class instance with its methods on its prototype': classInstanceOf,
};

describe.each(Object.entries(served))('createHttpApp serving %s', (_, shape) => {
  it('answers reads and launches (with and without a shutdown signal), and refuses work (503) once stopping', async () => {
    const { runtime } = createHarness();
    closing.push(runtime);
    const given = shape(runtime);
    const launched = await runtime.launch('echo', 'hi', { threadId: 'seen', source: { kind: 'http', replyTo: 'http://cb:pw-CLEAR-1@127.0.0.1:9/hook' } });
    await runtime.settled(launched.id);

    const plain = createHttpApp(given, { token: '' });
    const read = await plain.request('/threads/seen');
    expect(read.status).toBe(200);
    const text = await read.text();
    expect((JSON.parse(text) as ThreadView).id).toBe('seen');
    expect(text).not.toContain('pw-CLEAR-1'); // shown masked
    expect(text).toContain('cb:***@');

    const shutdown = new AbortController();
    const guarded = createHttpApp(given, { token: '', signal: shutdown.signal });
    expect((await guarded.request('/threads/seen')).status).toBe(200);
    const post = (app: typeof guarded, threadId: string) =>
      app.request('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'echo', input: 'x', threadId }) });
    expect((await post(guarded, 'before')).status).toBe(201);
    shutdown.abort();
    expect((await post(guarded, 'after')).status).toBe(503);
    expect(await runtime.get('after')).toBeUndefined();
  });
});
