import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createThreadEvents, type ThreadChange } from '../../src/runtime/threadEvents.js';
import type { Thread } from '../../src/thread/events.js';

const at = '2025-01-01T00:00:00.000Z';
const thread = (id: string, final = false, createdAt = at): Thread => ({
  id,
  agent: 'a',
  events: [
    { seq: 1, at: createdAt, type: 'input', data: { input: 'x' } },
    ...(final ? [{ seq: 2, at: createdAt, type: 'final' as const, data: { output: 1 } }] : []),
  ],
});

describe('thread events', () => {
  it("tells the thread's own listeners, then everyone's, with the status derived on demand", () => {
    const events = createThreadEvents(silentLogger());
    const heard: string[] = [];
    let change: ThreadChange | undefined;
    events.subscribe((c) => heard.push(`all:${c.thread.id}`));
    events.subscribeThread('t1', (c) => {
      change = c;
      heard.push(`own:${c.thread.id}`);
    });
    events.subscribeThread('t2', () => heard.push('other'));
    const t1 = thread('t1', true);
    events.emit(t1, t1.events.slice(1));
    expect(heard).toEqual(['own:t1', 'all:t1']);
    expect(change!.status).toBe('done');
    expect(change!.events).toHaveLength(1);
    expect('ingested' in change!).toBe(false);
    events.emit(t1, [], true);
    expect(change!.ingested).toBe(true);
  });

  it('keeps calling the other listeners when one throws, and lets a listener unsubscribe itself', () => {
    const events = createThreadEvents(silentLogger());
    const heard: string[] = [];
    const off = events.subscribeThread('t1', () => {
      heard.push('once');
      off();
    });
    events.subscribeThread('t1', () => {
      throw new Error('boom');
    });
    events.subscribeThread('t1', () => heard.push('after'));
    events.emit(thread('t1'), []);
    events.emit(thread('t1'), []);
    expect(heard).toEqual(['once', 'after', 'after']);
  });

  it('remembers the version emitted for at least the 10,000 most recent threads', () => {
    const events = createThreadEvents(silentLogger());
    events.emit(thread('first', true), []);
    for (let i = 0; i < 9_999; i++) events.emit(thread(`t${i}`), []);
    expect(events.emittedVersion(thread('first', true))).toBe(2);
    events.emit(thread('first', true), []);
    for (let i = 0; i < 25_000; i++) events.emit(thread(`u${i}`), []);
    expect(events.emittedVersion(thread('u24999'))).toBe(1);
    // Bounded: a thread not emitted for far more than that is forgotten.
    expect(events.emittedVersion(thread('first', true))).toBe(0);
  });

  it("answers 0 for another incarnation of a thread (created again under its id) than the one emitted", () => {
    const events = createThreadEvents(silentLogger());
    events.emit(thread('t1', true), []);
    expect(events.emittedVersion(thread('t1', true))).toBe(2);
    // Created at another instant: another thread, whatever its length.
    expect(events.emittedVersion(thread('t1', true, '2025-01-01T00:01:00.000Z'))).toBe(0);
    expect(events.emittedVersion(thread('t1', false, '2025-01-01T00:01:00.000Z'))).toBe(0);
    // Created within the same millisecond: told apart only while shorter than what was emitted.
    expect(events.emittedVersion(thread('t1', false))).toBe(0);
    events.emit(thread('t1', false, '2025-01-01T00:01:00.000Z'), []);
    expect(events.emittedVersion(thread('t1', true, '2025-01-01T00:01:00.000Z'))).toBe(1);
    expect(events.emittedVersion(thread('t1', true))).toBe(0);
  });
});
