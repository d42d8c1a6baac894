import type { SimulatedClock } from 'xstate';
import type { Runtime } from '../runtime/runtime.js';
import type { ThreadView } from '../runtime/threadView.js';
import { deriveState, RESTING_STATUSES } from '../thread/state.js';

/** Options of {@link advanceUntilSettled}. */
export interface AdvanceUntilSettledOptions {
  /**
   * How many times the clock may be moved to a deadline (a backoff's end, a sleep's end) before
   * giving up with an error that names the thread's status and its last error. @default 100
   */
  readonly maxSteps?: number | undefined;
}

/** What {@link advanceUntilSettled} needs of a runtime. */
export type SettlingRuntime = Pick<Runtime, 'get' | 'settled' | 'subscribe'>;

/**
 * Drives a thread on a simulated clock until it rests, and resolves with it as
 * `runtime.settled()` does: whenever the thread backs off or sleeps, the clock is moved to the
 * recorded deadline (`runtime.settled()` alone resolves only at a rest: done, failed, cancelled,
 * waiting for a human, paused; a thread backing off on a `SimulatedClock` waits until the test
 * moves the clock). After `maxSteps` moves it throws, naming the thread's status, deadline and
 * last error, instead of letting the test hang. Timers of a step in progress (a tool's
 * `timeoutMs`, the agent's `decideTimeoutMs`) are not driven: move the clock for those yourself.
 * Nor is the restart of a thread whose step or agent actor failed (its store threw, an action
 * threw): the runtime keeps that backoff (1 s, doubling), not the thread, which stays `running`
 * meanwhile, so the wait goes on until the test moves the clock past it (or times out).
 *
 * @example
 * ```ts
 * const clock = new SimulatedClock();
 * const runtime = createRuntime({ agents: [support], model, store: createMemoryStore({ clock }), clock });
 * const { id } = await runtime.launch('support', { orderId: 'A1' });
 * const view = await advanceUntilSettled(runtime, id, clock); // through every backoff
 * expect(view.status).toBe('done');
 * ```
 */
export async function advanceUntilSettled(
  runtime: SettlingRuntime,
  threadId: string,
  clock: SimulatedClock,
  options: AdvanceUntilSettledOptions = {},
): Promise<ThreadView> {
  const { maxSteps = 100 } = options;
  if (!Number.isInteger(maxSteps) || maxSteps < 0) throw new TypeError(`maxSteps must be a non-negative integer (got ${String(maxSteps)})`);
  const stop = new AbortController();
  let poke = (): void => undefined;
  const unsubscribe = runtime.subscribe((change) => {
    if (change.thread.id === threadId) poke();
  });
  const settled = runtime.settled(threadId, { signal: stop.signal }).then((view) => ({ settled: view }));
  // Aborted in `finally` once the answer is known; nobody waits on it then.
  settled.catch(() => undefined);
  try {
    let steps = 0;
    let stalls = 0;
    let quiet = -1;
    for (;;) {
      // Listen before reading, so a change between the read and the wait is not missed.
      const changed = new Promise<'changed'>((resolve) => (poke = () => resolve('changed')));
      const view = await runtime.get(threadId);
      if (view === undefined || RESTING_STATUSES.includes(view.status)) return (await settled).settled;
      const state = deriveState(view.events);
      const until = view.status === 'backing_off' ? state.backoffUntil : view.status === 'sleeping' ? state.sleepUntil : null;
      if (until === null) {
        // Running: it writes its next event, or comes to rest.
        const next = await Promise.race([settled, changed]);
        if (next !== 'changed') return next.settled;
        continue;
      }
      if (view.version !== quiet) {
        // Let the thread settle into its wait first (its timer armed, or its actor stopped and a
        // wake-up armed for a long one), so the clock is moved for the wait as it stands.
        quiet = view.version;
        const next = await Promise.race([settled, changed, turns()]);
        if (typeof next === 'object') return next.settled;
        continue;
      }
      if (until > clock.now()) {
        if (steps >= maxSteps) throw new Error(notSettled(view, until, `within ${maxSteps} step${maxSteps === 1 ? '' : 's'} of the clock (advanceUntilSettled's maxSteps)`));
        steps++;
        stalls = 0;
      } else if (++stalls > MAX_STALLS) {
        throw new Error(notSettled(view, until, 'although the clock is past its deadline: nothing in this runtime wakes it'));
      }
      // Fires the timers due by then (a timer armed just after, at a deadline already passed, is fired by the next round).
      clock.set(Math.max(clock.now(), until));
      const next = await Promise.race([settled, changed, turns()]);
      if (typeof next === 'object') return next.settled;
      if (next === 'changed') stalls = 0;
    }
  } finally {
    unsubscribe();
    stop.abort();
  }
}

/** Rounds in a row at a passed deadline with no change before giving up. */
const MAX_STALLS = 100;

/** Lets pending promise callbacks and I/O callbacks run (a few event-loop turns, no wall-clock wait). */
async function turns(rounds = 5): Promise<'idle'> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  return 'idle';
}

/** Why the thread did not settle: its id, status, deadline and last error. */
function notSettled(view: ThreadView, until: number, why: string): string {
  const lastError = [...view.events].reverse().find((e) => e.type === 'error');
  const error = lastError?.type === 'error' ? lastError.data.message : 'none';
  return `thread ${view.id} did not settle ${why}: it is ${view.status} until ${new Date(until).toISOString()}; its last error: ${error}`;
}
