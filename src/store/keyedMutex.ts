/** Runs async work one at a time per key; different keys run concurrently. */
export interface KeyedMutex {
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Resolves when all work started so far has settled. */
  idle(): Promise<void>;
}

/**
 * A {@link KeyedMutex} built from promise chains: each key's work waits for the previous work on
 * that key. A key's entry is dropped when its chain drains, so idle keys cost nothing.
 */
export function createKeyedMutex(): KeyedMutex {
  const tails = new Map<string, Promise<void>>();
  return {
    run<T>(key: string, work: () => Promise<T>): Promise<T> {
      const previous = tails.get(key);
      const result = previous === undefined ? work() : previous.then(work);
      const tail = result.then(
        () => undefined,
        () => undefined,
      );
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    async idle(): Promise<void> {
      while (tails.size > 0) await Promise.all(tails.values());
    },
  };
}
