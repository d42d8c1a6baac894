import { HTTPException } from 'hono/http-exception';
import type { Runtime, ThreadView } from '../runtime/runtime.js';
import { shownEvent, shownView } from '../runtime/threadView.js';
import { withCallDueBy } from '../runtime/watchThread.js';
import type { ThreadEvent } from '../thread/events.js';

/** What a stopping server answers (503) to a request that would start work. */
export const SHUTTING_DOWN = 'the server is shutting down';

/** The 503 of a stopping server. */
export function shuttingDown(): HTTPException {
  return new HTTPException(503, { message: SHUTTING_DOWN });
}

/** The runtime's methods that answer with a thread's view. */
const VIEWS: ReadonlySet<PropertyKey> = new Set<keyof Runtime>(['launch', 'get', 'respond', 'pause', 'resume', 'cancel', 'settled', 'run']);

/** The runtime's methods that start or change work, refused once the server is stopping. */
const WORK: ReadonlySet<PropertyKey> = new Set<keyof Runtime>(['launch', 'respond', 'pause', 'resume', 'cancel', 'delete']);

/**
 * The runtime as the HTTP routes and their extensions (the inspector) see it: views and watched
 * events as `shownView` and `shownEvent` show them (a read thread with its `callDueBy`; a callback URL recorded in clear by an earlier
 * version, masked); and once `shutdown` is aborted, what would start work rejects with a 503
 * ({@link shuttingDown}), so a request whose body was still arriving when the server began to close
 * launches nothing. Everything else passes through. Each method runs on the runtime itself (its
 * `this`), which is not changed: it may be frozen, keep its methods on a prototype, or its state in
 * private fields.
 */
export function httpRuntime(runtime: Runtime, shutdown?: AbortSignal): Runtime {
  // A proxy rather than a copy: a runtime may keep its methods on a prototype. Its target is not the
  // runtime (a proxy must return a frozen target's own values unchanged) but an object inheriting
  // from it, so `in` and `instanceof` still answer as for the runtime.
  return new Proxy(Object.create(runtime) as Runtime, {
    get(_, key) {
      const value: unknown = Reflect.get(runtime, key, runtime);
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(runtime);
      const call = shutdown !== undefined && WORK.has(key) ? (...args: unknown[]) => (shutdown.aborted ? Promise.reject(shuttingDown()) : bound(...args)) : bound;
      if (key === 'watch') return (...args: unknown[]) => shownEvents(call(...args) as AsyncIterable<ThreadEvent>);
      if (!VIEWS.has(key)) return call;
      return async (...args: unknown[]) => {
        const view = (await call(...args)) as ThreadView | undefined;
        if (view === undefined) return view;
        // A thread read is shown with until when a call it shows started may still record its
        // outcome (computed here, off the runtime's own reads: its workers' triggers, continuations).
        return key === 'get' ? withCallDueBy(shownView(view), runtime.agents) : shownView(view);
      };
    },
  });
}

async function* shownEvents(events: AsyncIterable<ThreadEvent>): AsyncIterable<ThreadEvent> {
  for await (const event of events) yield shownEvent(event);
}
