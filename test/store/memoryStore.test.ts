import { describe, expect, it } from 'vitest';
import { SystemError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { newThread } from './fixtures/events.js';
import { runDeleteConformance } from './delete.conformance.js';
import { runThreadStoreConformance } from './threadStore.conformance.js';

async function memoryStore(): Promise<{ store: ReturnType<typeof createMemoryStore>; cleanup(): Promise<void> }> {
  const store = createMemoryStore();
  return { store, cleanup: () => store.close() };
}

runThreadStoreConformance('memory', memoryStore);
runDeleteConformance('memory', memoryStore);

describe('createMemoryStore', () => {
  it('stamps a thread without events with the injected clock', async () => {
    const store = createMemoryStore({ clock: { now: () => Date.UTC(2030, 0, 1), setTimeout, clearTimeout } });
    await store.create({ id: 'empty', agent: 'a', events: [] });
    expect(await store.list()).toEqual([
      { id: 'empty', agent: 'a', status: 'running', version: 0, createdAt: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-01T00:00:00.000Z' },
    ]);
  });

  it('refuses work after close', async () => {
    const store = createMemoryStore();
    await store.create(newThread('t'));
    await store.close();
    await expect(store.get('t')).rejects.toBeInstanceOf(SystemError);
  });
});
