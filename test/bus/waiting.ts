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
export function collector<T>(): { items: T[]; push(item: T): void; until(n: number, ms: number, what?: string): Promise<T[]> } {
  const items: T[] = [];
  const waiters: { n: number; d: Deferred<T[]> }[] = [];
  return {
    items,
    push(item: T) {
      items.push(item);
      for (const w of [...waiters]) {
        if (items.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.d.resolve(items);
        }
      }
    },
    until(n: number, ms: number, what = `${n} items`) {
      if (items.length >= n) return Promise.resolve(items);
      const d = deferred<T[]>();
      waiters.push({ n, d });
      return within(d.promise, ms, `${what} (got ${items.length})`);
    },
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
