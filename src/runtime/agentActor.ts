import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { agentMachine, agentMachineFor, WAITING_STATES, type AgentMachineOutput } from '../../machines/agentMachine.js';
import type { Agent } from '../agent/agent.js';
import { type AgentDeps } from '../agent/deps.js';
import { systemClock, type Clock } from '../clock.js';
import { redactingLogger } from '../context/redactingLogger.js';
import { sealSecretsOf } from '../context/sealedArgs.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Model } from '../model/model.js';
import type { ThreadStore } from '../store/threadStore.js';
import type { Thread } from '../thread/events.js';
import { statusOf, type ThreadStatus } from '../thread/state.js';

/** A running agent actor. */
export type AgentActor = Actor<typeof agentMachine>;

/** Options of {@link createAgentActor}. */
export interface AgentActorOptions {
  agent: Agent;
  /** The thread to continue, as stored (at least its input event). */
  thread: Thread;
  /** Used unless the agent has its own. */
  model: Model;
  store: ThreadStore;
  /**
   * Other processes write the thread in `store` too (a store shared with a runtime, a worker or
   * the CLI): before a call of a tool that is not idempotent that a decision recorded with it,
   * the actor reads the stored thread once, and does not run the call when a pause or cancel was
   * written meanwhile (see `AgentDeps.otherWriters`).
   * @default false
   */
  otherWriters?: boolean | undefined;
  /** What tool calls' secrets are sealed and opened with (see `RuntimeOptions.sealSecret`). @default none */
  sealSecret?: string | readonly string[] | undefined;
  /** @default the system clock */
  clock?: Clock | undefined;
  /** @default a silent logger */
  logger?: Logger | undefined;
  /** Receives XState inspection events (the inspector). */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
}

// One shared silent logger: building a pino instance per actor is not free.
const quiet = silentLogger();

/** Creates (but does not start) an agent actor that continues `thread` from its events. */
export function createAgentActor(options: AgentActorOptions): AgentActor {
  const { agent, thread, model, store, clock = systemClock, logger = quiet, inspect, otherWriters = false } = options;
  const bound = redactingLogger(logger, agent.secrets, (agent.model ?? model).secrets).child({ threadId: thread.id, agent: agent.name });
  const deps: AgentDeps = { model, store, clock, logger: bound, otherWriters, sealSecrets: sealSecretsOf(options.sealSecret) };
  return createActor(agentMachineFor(agent), {
    input: { agent, thread, deps },
    clock,
    ...(inspect === undefined ? {} : { inspect }),
  });
}

/** Where an actor came to rest. */
export interface Settled {
  /** The machine state: done, failed, cancelled, stopped, awaitingHuman, escalated or paused. */
  readonly state: string;
  readonly status: ThreadStatus;
  readonly thread: Thread;
  /** Set when the actor stopped early (version conflict, a step that threw, a store failure). */
  readonly stopped?: string;
}

/**
 * Resolves when the actor reaches a final state or waits on something outside (a human, a resume).
 * Starts the actor if it is not running.
 */
export function whenSettled(actor: AgentActor): Promise<Settled> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const snapshot = actor.getSnapshot();
      if (snapshot.status === 'done') {
        const output = snapshot.output as AgentMachineOutput;
        resolve({
          state: String(snapshot.value),
          status: output.status,
          thread: output.thread,
          ...(output.stopped === undefined ? {} : { stopped: output.stopped }),
        });
        return true;
      }
      if (snapshot.status === 'error') {
        reject(snapshot.error);
        return true;
      }
      if (typeof snapshot.value === 'string' && WAITING_STATES.includes(snapshot.value)) {
        resolve({ state: snapshot.value, status: statusOf(snapshot.context.state), thread: snapshot.context.thread });
        return true;
      }
      return false;
    };
    if (check()) return;
    const subscription = actor.subscribe({
      next: () => {
        if (check()) subscription.unsubscribe();
      },
      error: (error) => reject(error),
      complete: () => {
        check();
      },
    });
    // start() is a no-op on a running actor.
    actor.start();
  });
}
