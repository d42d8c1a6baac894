import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Model } from '../model/model.js';
import type { ThreadStore } from '../store/threadStore.js';
import type { Thread } from '../thread/events.js';
import type { ThreadState } from '../thread/state.js';
import type { Agent } from './agent.js';
import type { LateCalls } from './lateCalls.js';

/** What an agent actor needs from the outside world, injected. */
export interface AgentDeps {
  readonly model: Model;
  readonly store: ThreadStore;
  readonly clock: Clock;
  /** Bound to the thread and its agent (`threadId`, `agent`) by the machine: a step's lines add neither again. */
  readonly logger: Logger;
  /**
   * Told when the actor comes to rest (waits on a human, a resume or a child thread) or sleeps
   * durably until `wakeAt` (epoch ms; a sleep, or a backoff longer than a few seconds: see
   * `REST_BACKOFF_OVER_MS`): whoever runs the actor may stop it and start it again then.
   */
  readonly onRest?: (rest: { readonly state: string; readonly thread: Thread; readonly wakeAt?: number }) => void;
  /**
   * Other processes write these threads too (threads move between processes as jobs, as on NATS):
   * a control another process writes does not always reach this actor. The execute step then reads
   * the stored thread once before it runs a call of a tool that is not idempotent that the decision
   * recorded with it. Unset in a runtime that moves its threads itself (the embedded deployment),
   * whose controls all reach its actors: no read.
   */
  readonly otherWriters?: boolean;
  /**
   * Told when a write of this actor's step moved on a thread that had been brought to rest: a
   * call's outcome that came late answered the question asked a human about the call (by another
   * process, or by this step itself when the call outlived its timeout; see the execute step).
   * Nothing moves the thread from that rest: where threads move as jobs no job carries it (its job
   * was settled there), so whoever runs the actor makes one, and the thread is continued if this
   * process dies before it rests; an embedded runtime runs it again unless an actor of it runs it.
   */
  readonly onRevived?: (thread: Thread) => void;
  /**
   * The calls past their deadline that still run in this process (one per runtime, shared by its
   * actors): an approval to run one of them again waits for it (see the execute step). Unset, an
   * approved run again starts at once.
   */
  readonly lateCalls?: LateCalls;
  /**
   * The runtime's seal secrets (`RuntimeOptions.sealSecret`): the first seals what a decision's
   * arguments hold that would be redacted, all open it before a tool runs (a rotation). Empty or
   * unset: such a call is refused, an `invalid_args` error naming the fix.
   */
  readonly sealSecrets?: readonly string[];
}

/** Input of every step: the agent, the thread as last persisted, and its derived state. */
export interface StepInput {
  readonly agent: Agent;
  readonly thread: Thread;
  readonly state: ThreadState;
  readonly deps: AgentDeps;
  /**
   * The call whose `tool_call` event the decision just before recorded with it, in the same actor:
   * it has not started, so the execute step runs it without recording it again (a call found
   * started otherwise may have run before a crash).
   */
  readonly recordedCall?: string;
}

