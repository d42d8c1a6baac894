/**
 * `runtime.ingest(threadId)`: the events another process wrote to a thread are emitted here once,
 * and a thread deleted and created again under its id elsewhere is a new thread, all of it new.
 */
import { describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent } from '../../src/thread/events.js';
import { T0, threadOf } from '../support/agentHarness.js';

const input: NewEvent = { type: 'input', data: { input: 'x' } };
const decision: NewEvent = { type: 'decision', data: { callId: 'c1', step: 1, intent: 'done_for_now', args: { message: 'x' }, model: 'm', promptHash: 'sha256:x', tokens: { prompt: 1, completion: 1 }, latencyMs: 0 } };
const final = (output: string): NewEvent => ({ type: 'final', data: { output } });
const pause: NewEvent = { type: 'control', data: { action: 'pause', by: 'qa' } };
const resume: NewEvent = { type: 'control', data: { action: 'resume', by: 'qa' } };

function setup() {
  const store = createMemoryStore();
  // `here` does the writes (its store is the one others share); `elsewhere` only ingests them.
  const here = createRuntime({ agents: [calculator], store, model: scriptedModel([]) });
  const elsewhere = createRuntime({ agents: [calculator], store, model: scriptedModel([]) });
  const heard: number[] = [];
  elsewhere.subscribe((change) => heard.push(...change.events.map((e) => e.seq)));
  return { store, here, elsewhere, heard };
}

describe('runtime.ingest', () => {
  it('emits only the events it has not emitted yet', async () => {
    const { store, elsewhere, heard } = setup();
    await store.create(threadOf('t1', 'calculator', [input]));
    await elsewhere.ingest('t1');
    await elsewhere.ingest('t1');
    await store.append('t1', 1, [{ seq: 2, at: new Date(T0).toISOString(), ...decision }]);
    await elsewhere.ingest('t1');
    expect(heard).toEqual([1, 2]);
  });

  it.each([
    ['as long as', [input, decision, final('second')], [1, 2, 3]],
    ['longer than', [input, decision, pause, resume], [1, 2, 3, 4]],
  ] as const)(
    'emits every event of a thread created again under a deleted one\'s id, first read here once %s the deleted one',
    async (_length, again, seqs) => {
      const { store, here, elsewhere, heard } = setup();
      await store.create(threadOf('t1', 'calculator', [input, decision, final('first')]));
      await elsewhere.ingest('t1');
      heard.length = 0;

      // Deleted and launched again by another process, which ran it on before this one read it.
      await here.delete('t1');
      await store.create(threadOf('t1', 'calculator', again, T0 + 60_000));
      await elsewhere.ingest('t1');

      expect(heard).toEqual(seqs);
    },
  );
});
