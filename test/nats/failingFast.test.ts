/**
 * The view of a node's runtime that requests from outside use (the HTTP API): while a NATS
 * connection is known to be down it fails at once, a call already waiting fails when the
 * connection drops, and serving resumes with the reconnect.
 */
import { describe, expect, it } from 'vitest';
import { SystemError } from '../../src/errors.js';
import type { ConnectionWatch } from '../../src/nats/connectionWatch.js';
import { failingFast } from '../../src/nats/failingFast.js';
import type { Runtime, ThreadView } from '../../src/runtime/runtime.js';
import { createHarness } from '../server/harness.js';
import { deferred } from './natsTestKit.js';

/** A watch the test drives: `drop` says a connection went down, `back` that it reconnected. */
function drivenWatch(): ConnectionWatch & { drop(error: SystemError): void; back(): void } {
  let error: SystemError | undefined;
  const listeners = new Set<(error: SystemError) => void>();
  return {
    down: () => error,
    onDown(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    close: () => listeners.clear(),
    drop(next) {
      error = next;
      for (const listener of [...listeners]) listener(next);
    },
    back() {
      error = undefined;
    },
  };
}

describe('failingFast', () => {
  it('fails at once while a connection is down without asking the runtime, and serves again once it is back', async () => {
    const { runtime } = createHarness();
    const asked: string[] = [];
    const counting: Runtime = { ...runtime, get: (id) => (asked.push(id), runtime.get(id)), delete: (id) => (asked.push(`delete ${id}`), runtime.delete(id)) };
    const watch = drivenWatch();
    const view = failingFast(counting, watch);
    const lost = new SystemError('NATS is unreachable: the connection was lost 0.1 s ago and is reconnecting');

    watch.drop(lost);
    await expect(view.get('t1')).rejects.toBe(lost);
    await expect(view.list()).rejects.toBe(lost);
    await expect(view.launch('echo', 'x')).rejects.toBe(lost);
    await expect(view.delete('t1')).rejects.toBe(lost);
    expect(asked).toEqual([]);
    // Readiness is its own check: not refused here.
    await expect(view.ready()).resolves.toBeUndefined();

    watch.back();
    const launched = await view.launch('echo', 'x', { threadId: 'back1' });
    expect((await view.get('back1'))?.id).toBe(launched.id);
    expect(asked).toEqual(['back1']);
    await runtime.close();
  });

  it('fails a call already waiting when a connection drops, and ignores what that call answers later', async () => {
    const { runtime } = createHarness();
    const answer = deferred<ThreadView | undefined>();
    const watch = drivenWatch();
    const view = failingFast({ ...runtime, get: () => answer.promise }, watch);
    const waiting = view.get('t1');
    const lost = new SystemError('NATS is unreachable: the connection was lost 0.0 s ago and is reconnecting');
    watch.drop(lost);
    await expect(waiting).rejects.toBe(lost);
    // The call's own failure, later, goes nowhere (no unhandled rejection fails the run).
    answer.reject(new SystemError('cannot read thread t1: timeout'));
    await runtime.close();
  });

  it('keeps the methods of a runtime that holds them on a prototype (a class instance), called on it', async () => {
    const { runtime } = createHarness();
    // Every method of the runtime, on the class's prototype, using a private field: called on
    // anything but the instance, they throw.
    class ClassRuntime {
      readonly #inner: Runtime;
      constructor(inner: Runtime) {
        this.#inner = inner;
      }
      static {
        for (const key of Object.keys(runtime)) {
          (this.prototype as unknown as Record<string, unknown>)[key] = function (this: ClassRuntime, ...args: unknown[]): unknown {
            return (this.#inner as unknown as Record<string, (...a: unknown[]) => unknown>)[key]!(...args);
          };
        }
      }
    }
    const watch = drivenWatch();
    const view = failingFast(new ClassRuntime(runtime) as unknown as Runtime, watch);

    const launched = await view.launch('echo', 'x', { threadId: 'c1' });
    expect((await view.get('c1'))?.id).toBe(launched.id);
    await expect(view.ready()).resolves.toBeUndefined();
    expect(view.activeCount()).toBe(runtime.activeCount());
    const lost = new SystemError('NATS is unreachable: the connection is closed');
    watch.drop(lost);
    await expect(view.get('c1')).rejects.toBe(lost);
    await expect(view.ready()).resolves.toBeUndefined();
    await runtime.close();
  });

  it('serves a frozen runtime (a proxy may not change what a frozen target holds)', async () => {
    const { runtime } = createHarness();
    const watch = drivenWatch();
    const view = failingFast(Object.freeze({ ...runtime }), watch);
    const launched = await view.launch('echo', 'x', { threadId: 'f1' });
    expect((await view.get('f1'))?.id).toBe(launched.id);
    const lost = new SystemError('NATS is unreachable: the connection is closed');
    watch.drop(lost);
    await expect(view.get('f1')).rejects.toBe(lost);
    await runtime.close();
  });
});
