import type { Thread } from '../thread/events.js';

/** One call tracked by {@link LateCalls}. */
interface LateCall {
  /** Steps of this process waiting for its outcome. */
  waiters: number;
  /** Resolves once its outcome is handled: the thread its result was recorded in, else undefined. */
  readonly handled: Promise<Thread | undefined>;
}

/**
 * The calls of tools that are not idempotent that outlived their deadline and still run in this
 * process (a human was asked whether to run them again), by idempotency key, until their outcome is
 * handled (see the execute step's `recordLateOutcome`). A step approved to run one of them again
 * waits for it here instead of running it a second time alongside (qa21-durability D1). One per
 * runtime, shared by its actors; a Map lookup only on an approved run again.
 */
export class LateCalls {
  readonly #calls = new Map<string, LateCall>();

  /**
   * Tracks call `key` until `handled` settles (it never rejects): the thread the call's late result
   * was recorded in, or undefined (it failed, or its outcome could not be recorded).
   */
  track(key: string, handled: Promise<Thread | undefined>): void {
    const call: LateCall = { waiters: 0, handled };
    this.#calls.set(key, call);
    void handled.finally(() => {
      if (this.#calls.get(key) === call) this.#calls.delete(key);
    });
  }

  /** Whether a step of this process waits for call `key`'s outcome (it carries the thread on from it). */
  awaited(key: string): boolean {
    return (this.#calls.get(key)?.waiters ?? 0) > 0;
  }

  /**
   * Waits for call `key`'s outcome to be handled, or for one of `signals` to abort (undefined then);
   * undefined at once (no promise) when nothing of it runs in this process.
   */
  waitFor(key: string, signals: readonly AbortSignal[]): Promise<Thread | undefined> | undefined {
    const call = this.#calls.get(key);
    if (call === undefined) return undefined;
    call.waiters++;
    return new Promise((resolve) => {
      let over = false;
      const end = (thread: Thread | undefined): void => {
        if (over) return;
        over = true;
        // At once, in the abort's own turn: the late outcome, handled next, no longer counts on this step.
        call.waiters--;
        for (const signal of signals) signal.removeEventListener('abort', stop);
        resolve(thread);
      };
      const stop = (): void => end(undefined);
      for (const signal of signals) {
        if (signal.aborted) return stop();
        signal.addEventListener('abort', stop, { once: true });
      }
      void call.handled.then(end);
    });
  }
}
