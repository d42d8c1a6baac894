/** Event-driven waiting helpers for the bus suites: every wait is bounded. */

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects with a message naming `what` (read when the time is up) unless `promise` settles within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects items; `until(n)` resolves once `n` have arrived (bounded by `ms`). */
export interface Collector<T> {
  items: T[];
  push(item: T): void;
  until(n: number, ms: number, what?: string): Promise<T[]>;
  /** Resolves with the first item that matches, whenever it came (bounded by `ms`). */
  untilSome(matches: (item: T) => boolean, ms: number, what: string): Promise<T>;
}

export function collector<T>(): Collector<T> {
  const items: T[] = [];
  const waiters: { done: () => boolean; resolve: () => void }[] = [];
  const wait = <R>(ready: () => R | undefined, ms: number, what: string): Promise<R> => {
    const now = ready();
    if (now !== undefined) return Promise.resolve(now);
    const d = deferred<R>();
    waiters.push({ done: () => ready() !== undefined, resolve: () => d.resolve(ready()!) });
    return within(d.promise, ms, () => `${what} (got ${items.length})`);
  };
  return {
    items,
    push(item: T) {
      items.push(item);
      for (const w of [...waiters]) {
        if (w.done()) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
    until: (n, ms, what = `${n} items`) => wait(() => (items.length >= n ? items : undefined), ms, what),
    untilSome: (matches, ms, what) => wait(() => items.find(matches), ms, what),
  };
}

/** Polls `check` every `everyMs` until it returns a defined value, within `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms: number, what: string, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(everyMs);
  }
}

/** A plain delay, only for "nothing else happens" windows and handler work. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A unique subject/queue token for one test, so tests sharing a NATS server never interfere. */
export function uniqueToken(): string {
  return `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
