/**
 * The actor registry tells an actor its process's going cut off (it was live: a worker killed
 * mid-tool-call, QA20 D12) from one that stopped by itself (a thread at rest): only the first leaves
 * a still-moving thread running nowhere, until its job is delivered again.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createActorRegistry } from '../../src/inspector/actorRegistry.js';
import type { InspectionMessage } from '../../src/inspector/inspectionMessages.js';
import { messageHead, presence } from './registryMessages.js';

/** An agent actor of `threadId`, as a runtime publishes it when it starts the thread. */
const agentActor = (sessionId: string, threadId: string, at: number): InspectionMessage => ({
  type: '@xstate.actor',
  ...messageHead(sessionId, at),
  name: threadId,
  definition: undefined,
  parentId: 'x:0',
  snapshot: { status: 'active', value: 'executing', context: { threadId, agent: 'calculator', status: 'running', version: 3 } },
  machine: 'agent',
});
/** The actor's last snapshot when it stops by itself (its thread at rest). */
const stoppedItself = (sessionId: string, threadId: string, at: number): InspectionMessage => ({
  type: '@xstate.snapshot',
  ...messageHead(sessionId, at),
  event: { type: 'xstate.stop' },
  snapshot: { status: 'stopped', value: 'awaitingChild', context: { threadId, agent: 'calculator', status: 'running', version: 4 } },
  actor: { name: threadId, machine: 'agent', parentId: 'x:0' },
});

describe('the actor registry, actors lost with their process', () => {
  it('marks lost an actor that was live when its process said goodbye, not one that had stopped by itself', () => {
    const clock = new SimulatedClock();
    const registry = createActorRegistry({ clock });
    registry.presence('w1', presence('w1', 'alive', 1000, clock.now()));
    registry.apply('w1', agentActor('x:1', 'th-running', clock.now()));
    registry.apply('w1', agentActor('x:2', 'th-resting', clock.now()));
    registry.apply('w1', stoppedItself('x:2', 'th-resting', clock.now()));
    expect(registry.get('w1/x:1')?.lost).toBeUndefined();

    const stopped = registry.presence('w1', presence('w1', 'gone', 1000, clock.now()));
    expect(stopped.map((r) => [r.key, r.status, r.lost])).toEqual([['w1/x:1', 'stopped', true]]);
    expect(registry.list({ threadId: 'th-running' }).map((r) => [r.key, r.status, r.lost])).toEqual([['w1/x:1', 'stopped', true]]);
    expect(registry.list({ threadId: 'th-resting' }).map((r) => [r.key, r.status, r.lost])).toEqual([['w1/x:2', 'stopped', undefined]]);
    registry.close();
  });

  it('marks it lost when its process misses three heartbeats, and no longer once that process is heard from again', () => {
    const clock = new SimulatedClock();
    const registry = createActorRegistry({ clock });
    registry.presence('w1', presence('w1', 'alive', 1000, clock.now()));
    registry.apply('w1', agentActor('x:1', 'th-running', clock.now()));
    clock.increment(2999);
    expect(registry.get('w1/x:1')).toMatchObject({ status: 'active' });
    expect(registry.get('w1/x:1')?.lost).toBeUndefined();
    clock.increment(1);
    expect(registry.get('w1/x:1')).toMatchObject({ status: 'stopped', lost: true });

    // Not gone after all (a late heartbeat): its actor is live again, and not lost.
    registry.presence('w1', presence('w1', 'alive', 1000, clock.now()));
    expect(registry.get('w1/x:1')?.status).toBe('active');
    expect(registry.get('w1/x:1')?.lost).toBeUndefined();
    registry.close();
  });

  it('lists the thread as the actor another process picks it up on, which is not lost', () => {
    const clock = new SimulatedClock();
    const registry = createActorRegistry({ clock });
    registry.apply('w1', agentActor('x:1', 'th-running', clock.now()));
    registry.presence('w1', presence('w1', 'gone', 1000, clock.now()));
    expect(registry.list({ threadId: 'th-running' }).map((r) => [r.key, r.lost])).toEqual([['w1/x:1', true]]);

    // Its job, delivered again after the ack wait, runs on w2.
    registry.apply('w2', agentActor('x:9', 'th-running', clock.now()));
    const [latest] = registry.list({ threadId: 'th-running' });
    expect(latest).toMatchObject({ key: 'w2/x:9', status: 'active' });
    expect(latest?.lost).toBeUndefined();
    // w1's record is still lost (the live-actors panel shows it stopped), just no longer the thread's.
    expect(registry.get('w1/x:1')?.lost).toBe(true);
    registry.close();
  });
});
