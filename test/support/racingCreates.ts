import { expect } from 'vitest';
import type { ThreadStore } from '../../src/store/threadStore.js';
import { deferred } from '../bus/waiting.js';

/**
 * `store` whose creates of `threadId`, once armed, wait until `racers` of them have come: every
 * racing launch has read the id as free by then, and the store's own create (atomic) picks the
 * winner. Its `create` is replaced in place (a NATS node's store is held by its runtime).
 */
export function raceCreates(store: Pick<ThreadStore, 'create'>, threadId: string, racers: number): { arm(): void } {
  const create = store.create.bind(store);
  let armed = false;
  let waiting = 0;
  const all = deferred<void>();
  store.create = async (thread) => {
    if (armed && thread.id === threadId) {
      waiting++;
      if (waiting === racers) all.resolve();
      await all.promise;
    }
    return create(thread);
  };
  return { arm: () => void (armed = true) };
}

/** Expects `answers` to launches that raced to be one thread, created once; returns their statuses in order. */
export function oneCreated(answers: readonly { status: number; body: unknown }[]): number[] {
  const createdAt = new Set(answers.map((a) => (a.body as { createdAt: string }).createdAt));
  expect(createdAt.size).toBe(1);
  return answers.map((a) => a.status).sort((a, b) => a - b);
}
