import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { storedPublisher } from '../../src/nats/storedPublish.js';

/** A JetStream manager whose stream listing answers `subjects` per stream, or fails while `down`. */
function fakeManager(streams: string[][]) {
  const state = { down: false, listings: 0 };
  const manager = {
    streams: {
      async *list() {
        state.listings++;
        if (state.down) throw new Error('JetStream is away');
        for (const subjects of streams) yield { config: { subjects } };
      },
    },
  } as unknown as JetStreamManager;
  return { state, manager: async () => manager };
}

const js = {} as JetStreamClient;

describe('which subjects a stream captures (stored publishes)', () => {
  it('matches the listed subjects, lists once for many subjects, and again after forget()', async () => {
    const { state, manager } = fakeManager([['results.>'], ['orders.*.new']]);
    const failures: unknown[] = [];
    const stored = storedPublisher(js, manager, (error) => failures.push(error));
    expect(await stored.captured('results.a.b')).toBe(true);
    expect(await stored.captured('orders.7.new')).toBe(true);
    expect(await stored.captured('orders.7.old')).toBe(false);
    expect(await stored.captured('_INBOX.x')).toBe(false);
    expect(state.listings).toBe(1);
    stored.forget();
    expect(await stored.captured('results.c')).toBe(true);
    expect(state.listings).toBe(2);
    expect(failures).toEqual([]);
  });

  it('keeps the last listing when the streams cannot be listed, and takes none when there was none', async () => {
    const { state, manager } = fakeManager([['results.>']]);
    const failures: unknown[] = [];
    const stored = storedPublisher(js, manager, (error) => failures.push(error));
    state.down = true;
    expect(await stored.captured('results.a')).toBe(false); // nothing known: a plain publish
    expect(failures).toHaveLength(1);
    state.down = false;
    stored.forget();
    expect(await stored.captured('results.a')).toBe(true);
    state.down = true;
    stored.forget();
    expect(await stored.captured('results.a')).toBe(true); // the last listing still counts
    expect(failures).toHaveLength(2);
  });
});
