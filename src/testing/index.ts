/**
 * `switchyard/testing`: what users import to test their own agents without a network: a scripted
 * model, a memory store, a simulated clock (and {@link advanceUntilSettled} to drive it through a
 * thread's backoffs), an agent actor to drive one thread step by step, and `stepEvents` to unit-test
 * a step of the agent's author (a judge, a before-decision step, an intent) without a runtime.
 *
 * @packageDocumentation
 */
export { SimulatedClock } from 'xstate';
export { scriptedModel, type ScriptedModel, type ScriptedModelOptions, type ScriptedReply, type ScriptStep } from '../model/scriptedModel.js';
export { createMemoryStore } from '../store/memoryStore.js';
export { createAgentActor, whenSettled } from '../runtime/agentActor.js';
export { stepEvents, type StepEventsOptions } from '../agent/customStepRun.js';
export { advanceUntilSettled, type AdvanceUntilSettledOptions, type SettlingRuntime } from './advanceUntilSettled.js';
export type { WaitingOn, WaitingView } from '../runtime/waitingOn.js';
