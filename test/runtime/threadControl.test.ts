/**
 * A control sent to a thread's actor that ends without recording it (the actor had saved its rest
 * and was on its way out when the control came: QA saw a NATS cancel answered `ok` with the thread
 * still awaiting a human) is recorded on the log instead: the control never reports a success it
 * did not write.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { controlThread, type ControlSources } from '../../src/runtime/threadControl.js';
import type { ThreadDriver } from '../../src/runtime/threadDriver.js';
import { viewOf } from '../../src/runtime/threadView.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { createThread } from '../support/agentHarness.js';

/** Sources whose driver says the thread's actor runs, and drops what is forwarded to it (it is leaving). */
async function leavingActor() {
  const store = createMemoryStore();
  const thread = await createThread(store, { id: 'th-1', agent: 'a', input: 'go' });
  const forwarded: unknown[] = [];
  const driver = {
    isRunning: () => true,
    isActive: () => false,
    forward: (_id: string, event: unknown) => void forwarded.push(event),
    evict: () => undefined,
    continueAfterWrite: () => undefined,
  } as unknown as ThreadDriver;
  const sources: ControlSources = {
    deps: { store, model: scriptedModel([]), clock: systemClock, logger: silentLogger() },
    driver,
    // Agent `a` is not defined here: as on NATS, another process may serve it.
    served: { agents: new Map(), pipelines: new Map(), scheduled: true },
    load: async (id) => (await store.get(id))!,
    // The actor rests as it was: the control it was sent is not on the log.
    settled: async (id) => viewOf((await store.get(id))!),
  };
  return { store, sources, thread, forwarded };
}

describe('a control its actor did not record', () => {
  for (const action of ['cancel', 'pause'] as const) {
    it(`is recorded on the log (${action}), and the answer says so`, async () => {
      const { store, sources, thread, forwarded } = await leavingActor();
      const view = await controlThread(sources, thread.id, action, { by: 'qa' });
      expect(forwarded).toHaveLength(1);
      expect(view.status).toBe(action === 'cancel' ? 'cancelled' : 'paused');
      expect((await store.get(thread.id))!.events.at(-1)).toMatchObject({ type: 'control', data: { action, by: 'qa' } });
    });
  }
});
