import { describe, expect, it } from 'vitest';
import { LateCalls } from '../../src/agent/lateCalls.js';
import type { Thread } from '../../src/thread/events.js';
import { deferred } from '../bus/waiting.js';

const THREAD: Thread = { id: 't1', agent: 'a', events: [] };

describe('LateCalls', () => {
  it('gives no promise for a call that does not run here', () => {
    expect(new LateCalls().waitFor('t1@x:call_2', [new AbortController().signal])).toBeUndefined();
  });

  it('resolves a waiter with the thread its outcome was recorded in, counts it as awaited meanwhile, and forgets the call once handled', async () => {
    const calls = new LateCalls();
    const handled = deferred<Thread | undefined>();
    calls.track('k', handled.promise);
    expect(calls.awaited('k')).toBe(false);
    const waiting = calls.waitFor('k', [new AbortController().signal]);
    expect(calls.awaited('k')).toBe(true);
    handled.resolve(THREAD);
    expect(await waiting).toBe(THREAD);
    expect(calls.awaited('k')).toBe(false);
    expect(calls.waitFor('k', [])).toBeUndefined();
  });

  it('lets a waiter go at once when its signal aborts (undefined), no longer counting it as awaited', async () => {
    const calls = new LateCalls();
    calls.track('k', deferred<Thread | undefined>().promise);
    const stop = new AbortController();
    const waiting = calls.waitFor('k', [new AbortController().signal, stop.signal]);
    stop.abort(new Error('cancel requested'));
    expect(calls.awaited('k')).toBe(false);
    expect(await waiting).toBeUndefined();
    const aborted = new AbortController();
    aborted.abort();
    expect(await calls.waitFor('k', [aborted.signal])).toBeUndefined();
    expect(calls.awaited('k')).toBe(false);
  });
});
