import type { Agent } from '../agent/agent.js';
import type { Clock } from '../clock.js';
import { messageOf, NotFoundError } from '../errors.js';
import type { Thread } from '../thread/events.js';
import { incarnationKeyOf } from '../thread/incarnation.js';
import { RESTING_STATUSES } from '../thread/state.js';
import type { ThreadDeletion, ThreadEvents } from './threadEvents.js';
import { viewOf, type ThreadView } from './threadView.js';
import { awaitedOutcome, incarnationOrder } from './watchThread.js';
import { followChildWait } from './childWait.js';

/** What settling needs to know about the actors that move threads. */
export interface SettlingSources {
  readonly events: ThreadEvents;
  load(threadId: string): Promise<Thread>;
  /** An actor runs or waits to run the thread. */
  isActive(threadId: string): boolean;
  /** An actor that just persisted a resting status may still be finishing its step. */
  isBusy(threadId: string): boolean;
  /** Runs a thread no actor moves (when threads run in this process), unless a wake-up of its own will (asleep, backing off after a failure). */
  driveIdle?(thread: Thread): void;
  readonly clock: Clock;
  /** The agents this process knows: the timeouts of their tools bound the wait for an outcome. */
  readonly agents: ReadonlyMap<string, Agent>;
  /** The pipelines this process knows: one waiting on a child rests (see {@link followChildWait}). */
  readonly pipelines: ReadonlySet<string>;
}

/** Waits for threads to stop moving (see {@link Runtime.settled}). */
export interface Settling {
  /**
   * Resolves when the thread rests: it ended, waits for a human or a resume, or (a pipeline) waits
   * for a child thread. `known` is the thread when the caller has just read it, so it is not read again.
   */
  settled(threadId: string, known: Thread | undefined, opts?: SettleOptions): Promise<ThreadView>;
  /** An actor rested, with the thread it last wrote (null when it stopped early: waiters read the store). */
  rested(threadId: string, thread: Thread | null): void;
  /** An actor's thread fell asleep with its wake-up scheduled elsewhere (see {@link SettleOptions.untilAsleep}). */
  slept(threadId: string, thread: Thread): void;
}

/** Options of {@link Settling.settled}. */
export interface SettleOptions {
  readonly signal?: AbortSignal;
  /**
   * Resolve also when the thread falls asleep in this process (a sleep, or a long backoff) with its
   * wake-up handed to the scheduler (a durable job due at the deadline): the caller may let go of
   * the thread. The view says `sleeping` then.
   */
  readonly untilAsleep?: boolean;
  /**
   * A thread cancelled while a tool call of it ran in another process rests only once that call's
   * outcome is recorded (that process records it after the cancel), or the wait for it runs out:
   * as `Runtime.watch` (see {@link awaitedOutcome}).
   */
  readonly untilOutcome?: boolean;
}

/** Builds the settling of a runtime. */
export function createSettling(sources: SettlingSources): Settling {
  // Told when an actor comes to rest, which can happen after its last write was emitted.
  const restListeners = new Map<string, Set<(thread: Thread | null, asleep: boolean) => void>>();
  const tell = (threadId: string, thread: Thread | null, asleep: boolean): void => {
    for (const listener of [...(restListeners.get(threadId) ?? [])]) listener(thread, asleep);
  };
  const settled = (threadId: string, known: Thread | undefined, opts: SettleOptions = {}): Promise<ThreadView> =>
    new Promise((resolve, reject) => {
      let done = false;
      let deadline: unknown;
      const finish = (value: ThreadView | Error): void => {
        if (done) return;
        done = true;
        sources.clock.clearTimeout(deadline);
        unsubscribe();
        unlisten();
        unclose();
        childWait.stop();
        const waiting = restListeners.get(threadId);
        waiting?.delete(onActorRest);
        if (waiting?.size === 0) restListeners.delete(threadId);
        opts.signal?.removeEventListener('abort', onAbort);
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
      const failWith = (error: unknown): void => finish(error instanceof Error ? error : new Error(messageOf(error)));
      const onAbort = (): void => finish(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
      // At rest, unless (untilOutcome) a call its cancel left running elsewhere still has its
      // outcome to come: then at the next change, or as it is when the wait for it runs out.
      const rest = (view: ThreadView): void => {
        const until = opts.untilOutcome === true ? awaitedOutcome(view, sources.agents)?.until : undefined;
        if (until === undefined || sources.clock.now() >= until) finish(view);
        else if (deadline === undefined) {
          deadline = sources.clock.setTimeout(() => sources.load(threadId).then((thread) => finish(viewOf(thread)), failWith), until - sources.clock.now());
        }
      };
      // A pipeline waiting on a child rests too (its status stays running), told from its log and
      // its child's thread: also where no actor of it runs (an API process over NATS), or rested
      // before this wait began. An actor finishing its step here tells its rest itself.
      const childWait = followChildWait(sources, (pipeline) => {
        if (!sources.isBusy(threadId)) rest(viewOf(pipeline));
      });
      // The thread read, once it is.
      let read: Thread | undefined;
      const unsubscribe = sources.events.subscribeThread(threadId, (change) => {
        const order = read === undefined ? 'same' : incarnationOrder(read, change.thread);
        // A later incarnation of the id: the one read was deleted (its deletion not heard yet, or missed).
        if (order === 'later') finish(new NotFoundError('thread', threadId));
        else if (order !== 'same') return;
        else if (RESTING_STATUSES.includes(change.status)) {
          if (!sources.isBusy(threadId)) rest(viewOf(change.thread));
        } else childWait.check(change.thread);
      });
      // Deleted while an outcome was awaited: there is nothing left to wait for. Only the
      // incarnation read counts (the id may hold another by now); one deleted before the read
      // is done is looked for once it is.
      // Made only when a deletion comes first (a set for every wait is garbage held for a whole run).
      let gone: Set<string> | undefined;
      const onDeleted = (deletion: ThreadDeletion): void => {
        if (read === undefined) (gone ??= new Set()).add(deletion.incarnation);
        else if (deletion.incarnation === incarnationKeyOf(read)) finish(new NotFoundError('thread', threadId));
      };
      const unlisten = sources.events.onDeleted(threadId, onDeleted);
      // The runtime closed: nothing moves the thread here any more.
      const unclose = sources.events.onClosed(failWith);
      // Resting includes a pipeline waiting on a child thread (its status stays running). The
      // supervisor reports a rest from inside its transition, before its snapshot drops the child:
      // look once that transition is over.
      const onActorRest = (thread: Thread | null, asleep: boolean): void => {
        if (asleep && opts.untilAsleep !== true) return;
        queueMicrotask(() => {
          if (sources.isBusy(threadId)) return;
          // Asleep: say so, whatever its events show (a pipeline's sleep is a step in progress,
          // a thread resting through a backoff shows backing_off): the caller lets go of it.
          const view = (t: Thread): ThreadView => (asleep ? { ...viewOf(t), status: 'sleeping' } : viewOf(t));
          if (thread !== null) rest(view(thread));
          else sources.load(threadId).then((loaded) => rest(view(loaded)), failWith);
        });
      };
      if (!restListeners.has(threadId)) restListeners.set(threadId, new Set());
      restListeners.get(threadId)!.add(onActorRest);
      // An aborted signal sends no more events: a run asked for after its worker began to stop.
      if (opts.signal?.aborted === true) {
        onAbort();
        return;
      }
      const closed = sources.events.closed();
      if (closed !== undefined) {
        finish(closed);
        return;
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      (known === undefined ? sources.load(threadId) : Promise.resolve(known)).then((thread) => {
        read = thread;
        if (gone?.has(incarnationKeyOf(thread)) === true) return finish(new NotFoundError('thread', threadId));
        const view = viewOf(thread);
        if (RESTING_STATUSES.includes(view.status) && !sources.isBusy(threadId)) return rest(view);
        if (!RESTING_STATUSES.includes(view.status)) childWait.check(thread);
        // Nobody is moving this thread in this process (backing off after a restart, say): move it.
        if (!sources.isActive(threadId)) sources.driveIdle?.(thread);
      }, failWith);
    });
  return {
    settled,
    rested: (threadId, thread) => tell(threadId, thread, false),
    slept: (threadId, thread) => tell(threadId, thread, true),
  };
}
