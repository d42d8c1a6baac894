/** The actor registry's presence: a process that says goodbye, or falls silent, has no live actors. */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createActorRegistry, type ActorRecord } from '../../src/inspector/actorRegistry.js';
import type { InspectedActorEvent, InspectionMessage, PresenceMessage } from '../../src/inspector/inspectionMessages.js';
import { messageHead, presence } from './registryMessages.js';

const actorMessage = (sessionId: string, machine: string, value: string, at: number): InspectedActorEvent => ({
  type: '@xstate.actor',
  ...messageHead(sessionId, at),
  name: machine,
  definition: undefined,
  parentId: sessionId === 'x:0' ? undefined : 'x:0',
  snapshot: { status: 'active', value },
  machine,
});

/** A registry on a simulated clock, with two actors (a supervisor and an agent) in each process. */
function setup(processes: readonly string[]) {
  const clock = new SimulatedClock();
  const gone: { processId: string; records: ActorRecord[] }[] = [];
  const back: string[] = [];
  const restored: ActorRecord[] = [];
  const registry = createActorRegistry({
    clock,
    onGone: (processId, records) => gone.push({ processId, records }),
    onLive: (processId, records?: ActorRecord[]) => {
      back.push(processId);
      restored.push(...(records ?? []));
    },
  });
  for (const processId of processes) {
    registry.apply(processId, actorMessage('x:0', 'supervisor', 'supervising', clock.now()));
    registry.apply(processId, actorMessage('x:1', 'agent', 'executing', clock.now()));
  }
  const live = (processId: string) => registry.list().filter((a) => a.processId === processId && a.status === 'active');
  return { clock, registry, gone, back, restored, live };
}

describe('the actor registry, presence', () => {
  it('a process not heard from for three heartbeats is gone: its actors are no longer live', () => {
    const { clock, registry, gone, back, live } = setup(['p1', 'p2']);
    registry.presence('p1', presence('p1', 'alive', 1000, clock.now()));
    registry.presence('p2', presence('p2', 'alive', 1000, clock.now()));
    clock.increment(2000);
    // p1 keeps beating (an inspection message counts as being heard too); p2 falls silent.
    registry.presence('p1', presence('p1', 'alive', 1000, clock.now()));
    clock.increment(900);
    expect(live('p2')).toHaveLength(2);
    clock.increment(200);

    expect(live('p2')).toEqual([]);
    expect(registry.list().filter((a) => a.processId === 'p2').map((a) => a.status)).toEqual(['stopped', 'stopped']);
    expect(live('p1').map((a) => a.machine).sort()).toEqual(['agent', 'supervisor']);
    expect(gone.map((g) => [g.processId, g.records.map((r) => r.status)])).toEqual([['p2', ['stopped', 'stopped']]]);
    expect(registry.processes().map((p) => [p.processId, p.live]).sort()).toEqual([
      ['p1', true],
      ['p2', false],
    ]);

    // Heard from again: live again (told once), its actors with it, and a new actor of it is live.
    expect(back).toEqual([]);
    registry.presence('p2', presence('p2', 'alive', 1000, clock.now()));
    expect(back).toEqual(['p2']);
    registry.apply('p2', actorMessage('x:2', 'agent', 'deciding', clock.now()));
    expect(live('p2').map((a) => a.sessionId)).toEqual(['x:2', 'x:1', 'x:0']);
    expect(registry.processes().find((p) => p.processId === 'p2')?.live).toBe(true);
  });

  it('a goodbye makes a process gone at once', () => {
    const { clock, registry, gone, live } = setup(['p1', 'p2']);
    registry.presence('p1', presence('p1', 'alive', 1000, clock.now()));
    const changed = registry.presence('p1', presence('p1', 'gone', 1000, clock.now()));
    expect(changed.map((r) => [r.key, r.status]).sort()).toEqual([
      ['p1/x:0', 'stopped'],
      ['p1/x:1', 'stopped'],
    ]);
    expect(live('p1')).toEqual([]);
    expect(live('p2')).toHaveLength(2);
    expect(gone.map((g) => g.processId)).toEqual(['p1']);
    // Its expiry timer was disarmed: no second notice.
    clock.increment(10_000);
    expect(gone.map((g) => g.processId)).toEqual(['p1']);
  });

  it('a process seen only through inspection events (killed before any heartbeat reached the inspector) is gone after three default intervals (5 s) of silence', () => {
    const { clock, registry, gone, live } = setup(['ghost']);
    clock.increment(3 * 5000 - 1);
    expect(live('ghost')).toHaveLength(2);
    clock.increment(1);

    expect(live('ghost')).toEqual([]);
    expect(registry.list().filter((a) => a.processId === 'ghost').map((a) => a.status)).toEqual(['stopped', 'stopped']);
    expect(gone.map((g) => [g.processId, g.records.map((r) => r.status)])).toEqual([['ghost', ['stopped', 'stopped']]]);
    expect(registry.processes()).toMatchObject([{ processId: 'ghost', live: false }]);
    registry.close();
  });

  it('a slow-starting process is not dropped: each inspection event refreshes it, and its first heartbeat sets its interval', () => {
    const { clock, registry, gone, live } = setup(['slow']);
    // No heartbeat yet, but an inspection event every 14 s: never three default intervals of silence.
    clock.increment(14_000);
    registry.apply('slow', actorMessage('x:1', 'agent', 'deciding', clock.now()));
    clock.increment(14_000);
    expect(live('slow')).toHaveLength(2);
    // Its first heartbeat says it beats every 60 s: now it has three of those.
    registry.presence('slow', presence('slow', 'alive', 60_000, clock.now()));
    clock.increment(179_999);
    expect(live('slow')).toHaveLength(2);
    expect(gone).toEqual([]);
    clock.increment(1);
    expect(live('slow')).toEqual([]);
    expect(gone.map((g) => g.processId)).toEqual(['slow']);
    registry.close();
  });
  it('a live process marked gone before its first (long-interval) heartbeat arrived is back when it does: the actors it stopped are as they were, the ones that stopped themselves stay stopped', () => {
    const { clock, registry, gone, back, restored, live } = setup(['w']);
    // A third actor that really ended: its own snapshot said so.
    registry.apply('w', actorMessage('x:2', 'agent', 'executing', clock.now()));
    registry.apply('w', { type: '@xstate.snapshot', ...messageHead('x:2', clock.now()), event: { type: 'xstate.stop' }, snapshot: { status: 'done', value: 'finished' } } as InspectionMessage);
    const statuses = () => registry.list().filter((a) => a.processId === 'w').map((a) => [a.sessionId, a.status, a.value]).sort();
    // The API process restarted: it missed w's first heartbeat, and took w for one beating every 5 s.
    clock.increment(15_000);
    expect(live('w')).toEqual([]);
    expect(gone.map((g) => g.records.map((r) => r.sessionId).sort())).toEqual([['x:0', 'x:1']]);

    // w beats every minute: its heartbeat comes at 40 s.
    clock.increment(25_000);
    registry.presence('w', presence('w', 'alive', 60_000, clock.now()));
    expect(registry.processes().find((p) => p.processId === 'w')?.live).toBe(true);
    expect(statuses()).toEqual([
      ['x:0', 'active', 'supervising'],
      ['x:1', 'active', 'executing'],
      ['x:2', 'done', 'finished'],
    ]);
    // Told, as the stopped ones were: the page shows them live again.
    expect(back).toEqual(['w']);
    expect(restored.map((r) => [r.sessionId, r.status, r.value]).sort()).toEqual([
      ['x:0', 'active', 'supervising'],
      ['x:1', 'active', 'executing'],
    ]);

    // Gone for good only after three of its own intervals of silence: then stopped again.
    clock.increment(179_999);
    expect(live('w')).toHaveLength(2);
    clock.increment(1);
    expect(statuses().map(([sessionId, status]) => [sessionId, status])).toEqual([
      ['x:0', 'stopped'],
      ['x:1', 'stopped'],
      ['x:2', 'done'],
    ]);
    registry.close();
  });

  // Bad input from outside: a heartbeat whose interval is missing, not a number or negative is
  // no promise to stay; only an explicit 0 (a process that sends no heartbeats) disables expiry.
  it('a heartbeat with a malformed interval keeps the default one: such a process still expires', () => {
    for (const bad of [undefined, 'soon', -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const { clock, registry, gone, live } = setup(['odd']);
      registry.presence('odd', { ...presence('odd', 'alive', 0, clock.now()), intervalMs: bad } as unknown as PresenceMessage);
      clock.increment(3 * 5000 - 1);
      expect(live('odd'), String(bad)).toHaveLength(2);
      clock.increment(1);
      expect(live('odd'), String(bad)).toEqual([]);
      expect(gone.map((g) => g.processId)).toEqual(['odd']);
      registry.close();
    }
  });

  it('a heartbeat that says 0 (no heartbeats) keeps its process for good', () => {
    const { clock, registry, gone, live } = setup(['quiet']);
    registry.presence('quiet', presence('quiet', 'alive', 0, clock.now()));
    clock.increment(3_600_000);
    expect(live('quiet')).toHaveLength(2);
    expect(gone).toEqual([]);
    registry.close();
  });
});

describe('the actor registry, threads', () => {
  const threadActor = (sessionId: string, value: string, at: number): InspectionMessage => ({
    ...actorMessage(sessionId, 'agent', value, at),
    name: 'th-1',
    snapshot: { status: 'active', value, context: { threadId: 'th-1', agent: 'calculator', status: 'running', version: 3 } },
  });

  it('lists a thread as the actor it saw last, whatever the processes\' clocks say or the earlier actor does later', () => {
    const { clock, registry } = setup(['p1', 'p2']);
    registry.presence('p1', presence('p1', 'alive', 1000, clock.now()));
    // p1 runs the thread; p2 resumes it on a new actor, its clock a minute behind.
    registry.apply('p1', threadActor('x:7', 'executing', clock.now()));
    registry.apply('p2', threadActor('x:3', 'deciding', clock.now() - 60_000));
    const ofThread = () => registry.list({ threadId: 'th-1' }).map((a) => [a.key, a.status]);
    expect(ofThread()).toEqual([['p2/x:3', 'active']]);
    // p1 goes silent: its actor, stopped, is updated last, and still not the thread's.
    clock.increment(3000);
    expect(registry.get('p1/x:7')?.status).toBe('stopped');
    expect(ofThread()).toEqual([['p2/x:3', 'active']]);
    expect(registry.list().filter((a) => a.threadId === 'th-1').map((a) => a.key)).toEqual(['p2/x:3']);
    registry.apply('p1', threadActor('x:7', 'executing', clock.now()));
    expect(ofThread()).toEqual([['p2/x:3', 'active']]);
    registry.close();
  });
});
