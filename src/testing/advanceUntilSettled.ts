import type { SimulatedClock } from 'xstate';
import { systemClock } from '../clock.js';
import { waitedThread } from '../pipeline/delegations.js';
import type { Runtime } from '../runtime/runtime.js';
import type { ThreadView } from '../runtime/threadView.js';
import { waitedOf, waitingOnOf, type WaitingView } from '../runtime/waitingOn.js';
import { RESTING_STATUSES, TERMINAL_STATUSES } from '../thread/state.js';
import { nextTimerDue } from './clockTimers.js';

/** Options of {@link advanceUntilSettled}. */
export interface AdvanceUntilSettledOptions {
  /**
   * How many times the clock may be moved forward (to a backoff's or a sleep's end, or to a timer
   * armed on it) before giving up with an error that names the thread's status and its last error.
   * @default 100
   */
  readonly maxSteps?: number | undefined;
  /**
   * How long, in real milliseconds, a running thread may change nothing, with a timer armed on the
   * clock, before the clock is moved to that timer (a step's own: a tool's `timeoutMs`,
   * `decideTimeoutMs`); at most the time until the timer is due, so a tool doing real I/O has
   * what its timeout would give it on the real clock, up to this long.
   * @default 500
   */
  readonly quietMs?: number | undefined;
}

/** What {@link advanceUntilSettled} needs of a runtime. */
export type SettlingRuntime = Pick<Runtime, 'get' | 'list' | 'settled' | 'subscribe' | 'pipelines' | 'clock'>;

/**
 * Drives a thread on a simulated clock until it rests, and resolves with it as
 * `runtime.settled()` does: whenever the thread backs off or sleeps, the clock is moved to the
 * recorded deadline (`runtime.settled()` alone resolves only at a rest: done, failed, cancelled,
 * waiting for a human, paused; a thread backing off on a `SimulatedClock` waits until the test
 * moves the clock). So is it to the backoff of a thread holding the slot this one waits for
 * (`maxConcurrent`), and, once a running thread has changed nothing for `quietMs` of real time,
 * to the timer armed on the clock (a step's own: a tool's `timeoutMs`, the agent's
 * `decideTimeoutMs`, the restart of a thread whose step or actor failed).
 *
 * A pipeline is driven down the chain it waits on: its child's (or a nested pipeline's
 * descendant's) backoffs, sleeps and timers too. It resolves at the pipeline's end or rest, or
 * when the thread it waits on waits for a human, is escalated or paused: then with `status`
 * `running` and `waitingOn` `{ threadId, agent, status, pendingRequest, through? }` naming that
 * thread (answer it there: `runtime.respond(waitingOn.threadId, ...)`, then drive the pipeline again).
 *
 * It throws instead of letting the test hang: after `maxSteps` moves, naming the thread's status,
 * deadline and last error; when the runtime's clock is not `clock`; when a queued thread waits
 * behind threads that nothing on the clock moves.
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
export async function advanceUntilSettled(runtime: SettlingRuntime, threadId: string, clock: SimulatedClock, options: AdvanceUntilSettledOptions = {}): Promise<WaitingView> {
  const { maxSteps = 100, quietMs = 500 } = options;
  if (!Number.isInteger(maxSteps) || maxSteps < 0) throw new TypeError(`maxSteps must be a non-negative integer (got ${String(maxSteps)})`);
  if (!Number.isFinite(quietMs) || quietMs < 0) throw new TypeError(`quietMs must be a non-negative number (got ${String(quietMs)})`);
  const stop = new AbortController();
  let poke = (): void => undefined;
  // Any change: the thread's, a child's it waits on, one of a thread holding the slot it waits for.
  const unsubscribe = runtime.subscribe(() => poke());
  const drive = new ClockDrive(runtime, clock, { maxSteps, quietMs }, threadId, stop.signal);
  try {
    for (;;) {
      // Listen before reading, so a change between the read and the wait is not missed.
      const changed = new Promise<'changed'>((resolve) => (poke = () => resolve('changed')));
      const view = await runtime.get(threadId);
      if (view === undefined || RESTING_STATUSES.includes(view.status)) return await runtime.settled(threadId, { signal: stop.signal });
      const waited = await waitedOf(runtime, view);
      if (waited !== undefined && RESTING_STATUSES.includes(waited.view.status) && !TERMINAL_STATUSES.includes(waited.view.status)) return { ...view, waitingOn: waitingOnOf(waited) };
      // A child that ended: its pipeline moves on.
      const driven = waited === undefined || TERMINAL_STATUSES.includes(waited.view.status) ? { view } : { view: waited.view, via: waitedThread(waited.child, waited.through) };
      const rested = await drive.round(view, driven, changed);
      if (rested !== undefined) return rested;
    }
  } finally {
    unsubscribe();
    stop.abort();
  }
}

/** The thread whose deadlines and timers are driven: the one asked for, or the one its pipeline waits on (`via` names it). */
interface Driven {
  readonly view: ThreadView;
  readonly via?: string;
}

/** What the wait of one round ended with: a change, nothing for a while, or the thread's rest. */
type Next = 'changed' | 'idle' | { readonly rested: ThreadView };

/** Limits of a drive, normalized from {@link AdvanceUntilSettledOptions}. */
interface Limits {
  readonly maxSteps: number;
  readonly quietMs: number;
}

/**
 * The rounds of one {@link advanceUntilSettled}: each waits for a change, or moves the clock to
 * what the driven thread waits on, and counts the moves.
 */
class ClockDrive {
  #steps = 0;
  #stalls = 0;
  #settling = '';
  /** The runtime's word that the thread rests. A pipeline rests there also while it waits on a child: then its end is read from the store. */
  #rest: Promise<Next>;
  /** This round's: the top thread, the one driven, the next change. */
  #round!: { readonly top: ThreadView; readonly driven: Driven; readonly changed: Promise<'changed'> };

  constructor(
    private readonly runtime: SettlingRuntime,
    private readonly clock: SimulatedClock,
    private readonly limits: Limits,
    threadId: string,
    signal: AbortSignal,
  ) {
    this.#rest = runtime.settled(threadId, { signal }).then((view) => ({ rested: view }));
    // Aborted once the answer is known; nobody waits on it then.
    this.#rest.catch(() => undefined);
  }

  /** One round: resolves with the view to resolve with once the runtime says the thread rests. */
  async round(top: ThreadView, driven: Driven, changed: Promise<'changed'>): Promise<ThreadView | undefined> {
    this.#round = { top, driven, changed };
    const { view } = driven;
    let next: Next;
    if (view.wakeAt === undefined) {
      // Running: it writes its next event, or comes to rest; if it stays quiet, see what it waits on.
      next = await this.#race(turns());
      if (next === 'idle') next = await this.#unblock();
    } else if (`${view.id}@${view.version}` !== this.#settling) {
      // Let the thread settle into its wait first (its timer armed, or its actor stopped and a
      // wake-up armed for a long one), so the clock is moved for the wait as it stands.
      this.#settling = `${view.id}@${view.version}`;
      next = await this.#race(turns());
    } else {
      const what = `${view.status} until ${view.wakeAt}`;
      this.#sameClock(what);
      next = await this.#advanceTo(Date.parse(view.wakeAt), what);
    }
    if (typeof next !== 'object') return undefined;
    // A pipeline waiting on a child rests for settled(): not for this drive, which goes on down the chain.
    if (RESTING_STATUSES.includes(next.rested.status) || !this.runtime.pipelines.has(next.rested.agent)) return next.rested;
    this.#rest = new Promise<never>(() => undefined);
    return undefined;
  }

  #race(...waits: Promise<Next>[]): Promise<Next> {
    return Promise.race([this.#rest, this.#round.changed, ...waits]);
  }

  #fail(why: string, what: string): Error {
    return new Error(notSettled(this.#round.top, this.#round.driven, why, what));
  }

  #sameClock(what: string): void {
    if (this.runtime.clock !== this.clock) throw new Error(otherClock(this.runtime, this.#round.top, this.#round.driven, what));
  }

  /** Moves the clock to `at` (`what` the thread waits for) and lets what it fired run. */
  async #advanceTo(at: number, what: string): Promise<Next> {
    const { maxSteps } = this.limits;
    if (at > this.clock.now()) {
      if (this.#steps >= maxSteps) throw this.#fail(`within ${maxSteps} step${maxSteps === 1 ? '' : 's'} of the clock (advanceUntilSettled's maxSteps)`, what);
      this.#steps++;
      this.#stalls = 0;
    } else if (++this.#stalls > MAX_STALLS) {
      throw this.#fail('although the clock is past its deadline: nothing in this runtime wakes it', what);
    }
    // Fires the timers due by then (a timer armed just after, at a deadline already passed, is fired by the next round).
    this.clock.set(Math.max(this.clock.now(), at));
    const next = await this.#race(turns());
    if (next === 'changed') this.#stalls = 0;
    return next;
  }

  /** Running and quiet: to the deadline of a thread holding the slot it waits for, or to a timer armed on the clock. */
  async #unblock(): Promise<Next> {
    const { view } = this.#round.driven;
    if (view.queued === undefined) {
      const due = this.runtime.clock === this.clock ? nextTimerDue(this.clock) : undefined;
      return due === undefined ? this.#race() : this.#timer(due);
    }
    const { position, running, maxConcurrent } = view.queued;
    this.#sameClock(`waiting for a slot (position ${position} in the queue; ${running} of ${maxConcurrent} taken)`);
    const holders = await slotHolders(this.runtime, view.id);
    const first = holders.filter((h) => h.wakeAt !== undefined).sort((a, b) => Date.parse(a.wakeAt!) - Date.parse(b.wakeAt!))[0];
    if (first !== undefined) return this.#advanceTo(Date.parse(first.wakeAt!), `queued behind ${holdersText(holders)}: the first to free its slot is ${first.status} until ${first.wakeAt!}`);
    const due = nextTimerDue(this.clock);
    if (due !== undefined) return this.#timer(due);
    const next = await this.#race(realTime(this.limits.quietMs));
    if (next !== 'idle') return next;
    throw this.#fail(`while queued behind ${holdersText(holders)}`, 'waiting for a slot, and nothing on this clock frees one (no thread holding a slot backs off or sleeps, and no timer is armed on it): end those threads first, or give the runtime a larger maxConcurrent');
  }

  /** After `quietMs` of real time (at most until it is due) with no change, to the timer due at `due`. */
  async #timer(due: number): Promise<Next> {
    const next = await this.#race(realTime(Math.min(this.limits.quietMs, Math.max(0, due - this.clock.now()))));
    if (next !== 'idle') return next;
    return this.#advanceTo(due, `running, with a timer armed on the clock due at ${new Date(due).toISOString()} (a step's own: a tool's timeoutMs, decideTimeoutMs) and nothing changing`);
  }
}

/** Rounds in a row at a passed deadline with no change before giving up. */
const MAX_STALLS = 100;

/** Lets pending promise callbacks and I/O callbacks run (a few event-loop turns, no wall-clock wait). */
async function turns(rounds = 5): Promise<'idle'> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  return 'idle';
}

/** Resolves after `ms` of real time (raced against a change: it delays only a thread that waits on nothing else). */
function realTime(ms: number): Promise<'idle'> {
  return new Promise((resolve) => setTimeout(() => resolve('idle'), ms));
}

/** The other threads holding a slot of the runtime (an actor runs them now). */
async function slotHolders(runtime: SettlingRuntime, self: string): Promise<ThreadView[]> {
  const open = await runtime.list({ status: ['running', 'backing_off', 'sleeping'] });
  const views = await Promise.all(open.filter((t) => t.id !== self).map((t) => runtime.get(t.id)));
  return views.filter((v): v is ThreadView => v?.live === true);
}

function holdersText(holders: readonly ThreadView[]): string {
  return `${holders.length} thread${holders.length === 1 ? '' : 's'}${holders.length === 0 ? '' : ` (${holders.map((h) => `${h.agent} thread ${h.id}, ${h.status}`).join('; ')})`}`;
}

/** Why moving the clock given wakes nothing: the runtime keeps its timers on another. */
function otherClock(runtime: SettlingRuntime, top: ThreadView, driven: Driven, what: string): string {
  const whose = runtime.clock === systemClock ? 'the system clock (createRuntime was given no clock)' : 'another clock';
  return `${notSettled(top, driven, 'on the clock given to advanceUntilSettled', what)}; the runtime's clock is ${whose}, not this SimulatedClock, so moving this one wakes nothing: is this SimulatedClock the \`clock\` given to createRuntime?`;
}

/** Why the thread did not settle: its id, what it (or the thread its pipeline waits on) waits for, and the last error. */
function notSettled(top: ThreadView, driven: Driven, why: string, what: string): string {
  const lastError = [...driven.view.events].reverse().find((e) => e.type === 'error');
  const error = lastError?.type === 'error' ? lastError.data.message : 'none';
  const subject = driven.via === undefined ? 'it is' : `it waits on ${driven.via}, which is`;
  return `thread ${top.id} did not settle ${why}: ${subject} ${what}; its last error: ${error}`;
}
