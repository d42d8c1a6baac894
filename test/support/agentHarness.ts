/**
 * Test harness for agent actors: threads with an input event, a memory store, a scripted model and
 * xstate's `SimulatedClock`, so backoff timers, decision timeouts and tool timeouts only fire when a
 * test advances time. Nothing here sleeps on the wall clock.
 */
import { SimulatedClock } from 'xstate';
import type { Agent } from '../../src/agent/agent.js';
import { createAgentActor, type AgentActor } from '../../src/runtime/agentActor.js';
import type { Model } from '../../src/model/model.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { HumanRequest, HumanResponse, Json, NewEvent, Thread } from '../../src/thread/events.js';
import { statusOf, type ThreadStatus } from '../../src/thread/state.js';
import { stampEvents } from '../../src/thread/thread.js';
import { WAITING_STATES, type AgentMachineOutput } from '../../machines/agentMachine.js';

/** The fixed start time of every simulated run. */
export const T0 = Date.parse('2025-01-01T00:00:00.000Z');

/** A simulated clock set to `at` (default {@link T0}). */
export function createClock(at: number = T0): SimulatedClock {
  const clock = new SimulatedClock();
  clock.set(at);
  return clock;
}

/**
 * A clock moved by hand (`clock.at`) whose timers never fire: a wait whose end is past is not woken
 * by time, as a real timer that is due but has not run yet (the moment a deletion can slip in).
 */
export function handClock(at: number): { at: number; now(): number; setTimeout(): unknown; clearTimeout(): void } {
  const clock = { at, now: () => clock.at, setTimeout: (): unknown => 0, clearTimeout: (): void => undefined };
  return clock;
}

/** A thread holding `events` (the first one usually an input), stamped with seqs 1..n at time `at`. */
export function threadOf(id: string, agent: string, events: readonly NewEvent[], at: number = T0): Thread {
  return { id, agent, events: stampEvents(0, events, new Date(at).toISOString()) };
}

/** Creates a thread with one input event in `store`. */
export async function createThread(
  store: ThreadStore,
  options: { id?: string; agent: string; input: Json; at?: number },
): Promise<Thread> {
  const { id = 'thread-1', agent, input, at = T0 } = options;
  return store.create(threadOf(id, agent, [{ type: 'input', data: { input } }], at));
}

/** Everything a test needs to run one agent. */
export interface AgentRun {
  readonly actor: AgentActor;
  readonly store: ThreadStore;
  readonly clock: SimulatedClock;
  readonly thread: Thread;
}

/** Options of {@link startRun}. */
export interface StartRunOptions {
  agent: Agent;
  model: Model;
  /** The input of a new thread (ignored when `thread` is given). @default 'go' */
  input?: Json;
  /** An existing thread to continue; it is created in the store first. */
  thread?: Thread;
  /** @default 'thread-1' */
  threadId?: string;
  store?: ThreadStore;
  clock?: SimulatedClock;
  /** What sealed tool arguments open with. @default none */
  sealSecret?: string;
}

/** Creates the thread in a memory store and an agent actor over it (not started yet). */
export async function startRun(options: StartRunOptions): Promise<AgentRun> {
  const { agent, model, input = 'go', threadId = 'thread-1' } = options;
  const clock = options.clock ?? createClock();
  const store = options.store ?? createMemoryStore({ clock });
  const thread =
    options.thread === undefined
      ? await createThread(store, { id: threadId, agent: agent.name, input, at: clock.now() })
      : await store.create(options.thread);
  const actor = createAgentActor({ agent, thread, model, store, clock, ...(options.sealSecret === undefined ? {} : { sealSecret: options.sealSecret }) });
  return { actor, store, clock, thread };
}

/** Where an actor came to rest: a final state, a waiting state, or `backingOff`. */
export interface Rest {
  /** The machine state. */
  readonly state: string;
  readonly status: ThreadStatus;
  readonly thread: Thread;
  /** Set when the actor stopped early (version conflict, store failure). */
  readonly stopped?: string;
  /** The last refused human response, if any. */
  readonly refusal: string | null;
  /** When the actor is backing off: the epoch ms of the recorded deadline. */
  readonly backoffUntil: number | null;
  /** When the actor sleeps (a step's durable wait): the epoch ms it wakes at. */
  readonly sleepUntil: number | null;
}

const REST_STATES: readonly string[] = [...WAITING_STATES, 'backingOff', 'sleeping'];

/** Whether the actor is done, waiting on something outside, or backing off. */
function restOf(actor: AgentActor): Rest | null {
  const snapshot = actor.getSnapshot();
  if (snapshot.status === 'done') {
    const output = snapshot.output as AgentMachineOutput;
    return {
      state: String(snapshot.value),
      status: output.status,
      thread: output.thread,
      ...(output.stopped === undefined ? {} : { stopped: output.stopped }),
      refusal: snapshot.context.refusal,
      backoffUntil: snapshot.context.state.backoffUntil,
      sleepUntil: snapshot.context.state.sleepUntil,
    };
  }
  if (snapshot.status === 'error') throw snapshot.error;
  const value = String(snapshot.value);
  if (!REST_STATES.includes(value)) return null;
  return {
    state: value,
    status: statusOf(snapshot.context.state),
    thread: snapshot.context.thread,
    refusal: snapshot.context.refusal,
    backoffUntil: snapshot.context.state.backoffUntil,
    sleepUntil: snapshot.context.state.sleepUntil,
  };
}

/**
 * Resolves when the actor comes to rest (see {@link Rest}); starts it if needed. Unlike
 * `whenSettled`, `backingOff` counts as rest, so the caller can advance the simulated clock.
 * A real-time guard turns a hang into a failure instead of a stuck test.
 */
export function settle(actor: AgentActor, guardMs = 10_000): Promise<Rest> {
  return new Promise((resolve, reject) => {
    let subscription: { unsubscribe(): void } | undefined;
    let finished = false;
    const guard = setTimeout(() => {
      finish();
      reject(new Error(`the actor did not come to rest (state ${String(actor.getSnapshot().value)})`));
    }, guardMs);
    function finish(): void {
      finished = true;
      clearTimeout(guard);
      subscription?.unsubscribe();
    }
    const check = (): boolean => {
      let rest: Rest | null;
      try {
        rest = restOf(actor);
      } catch (error) {
        finish();
        reject(error);
        return true;
      }
      if (rest === null) return false;
      finish();
      resolve(rest);
      return true;
    };
    subscription = actor.subscribe({
      next: () => {
        if (!finished) check();
      },
      error: (error) => {
        if (finished) return;
        finish();
        reject(error);
      },
      complete: () => {
        if (!finished) check();
      },
    });
    // start() is a no-op on a running actor.
    actor.start();
    // The actor may have come to rest synchronously while starting.
    if (!finished) check();
  });
}

/** Answers the open request: returns the response to send, or undefined to leave it waiting. */
export type Answerer = (request: HumanRequest, thread: Thread) => Omit<HumanResponse, 'requestId'> | undefined;

/** Options of {@link runToEnd}. */
export interface RunToEndOptions {
  /** Answers human requests as they come; without it the run ends at the first one. */
  answer?: Answerer;
  /** Bound on the loop (backoffs plus answers). @default 100 */
  maxIterations?: number;
}

/** What {@link runToEnd} ends with. */
export interface RunEnd extends Rest {
  /** How many times the clock was advanced to a backoff deadline. */
  readonly backoffs: number;
  /** How many times the clock was advanced to the end of a sleep. */
  readonly sleeps: number;
  /** How many human responses were sent. */
  readonly answers: number;
}

/**
 * Runs the actor until it is done or waits on a human who does not answer: whenever it backs off,
 * the simulated clock is advanced to the recorded deadline; whenever it waits on a human and
 * `answer` gives a response, that response is sent. Bounded by `maxIterations`.
 */
export async function runToEnd(actor: AgentActor, clock: SimulatedClock, options: RunToEndOptions = {}): Promise<RunEnd> {
  const { answer, maxIterations = 100 } = options;
  let backoffs = 0;
  let sleeps = 0;
  let answers = 0;
  for (let i = 0; i < maxIterations; i++) {
    const rest = await settle(actor);
    if (rest.state === 'sleeping') {
      if (rest.sleepUntil === null) throw new Error('sleeping without a recorded deadline');
      clock.increment(Math.max(0, rest.sleepUntil - clock.now()));
      sleeps++;
      continue;
    }
    if (rest.state === 'backingOff') {
      const until = rest.backoffUntil;
      if (until === null) throw new Error('backingOff without a recorded deadline');
      clock.increment(Math.max(0, until - clock.now()));
      backoffs++;
      continue;
    }
    if ((rest.state === 'awaitingHuman' || rest.state === 'escalated') && answer !== undefined) {
      const request = actor.getSnapshot().context.state.pendingRequest;
      if (request === null) throw new Error(`${rest.state} without a pending request`);
      const response = answer(request, rest.thread);
      if (response !== undefined) {
        const after = await respond(actor, { ...response, requestId: request.requestId });
        if (after.refusal !== null) throw new Error(`the harness's answer was refused: ${after.refusal}`);
        answers++;
        continue;
      }
    }
    return { ...rest, backoffs, sleeps, answers };
  }
  throw new Error(`runToEnd: no end after ${maxIterations} iterations (state ${String(actor.getSnapshot().value)})`);
}

/** Sends a human response and waits for the next rest. */
export function respond(actor: AgentActor, response: HumanResponse): Promise<Rest> {
  actor.send({ type: 'RESPOND', response });
  return settle(actor);
}

/** Lets pending promise callbacks and I/O callbacks run. */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Polls `condition` between event-loop turns; fails after `maxRounds` turns. */
export async function until(condition: () => boolean, maxRounds = 1000): Promise<void> {
  for (let i = 0; i < maxRounds; i++) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error('condition not met');
}

/** The types of a thread's events, in order. */
export function typesOf(thread: Thread): string[] {
  return thread.events.map((event) => event.type);
}

/** The events of one type. */
export function eventsOf<T extends Thread['events'][number]['type']>(
  thread: Thread,
  type: T,
): Extract<Thread['events'][number], { type: T }>[] {
  return thread.events.filter((event): event is Extract<Thread['events'][number], { type: T }> => event.type === type);
}
