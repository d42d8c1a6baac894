// What users import to test their own agents: a scripted model, a memory store, a simulated clock.
export { SimulatedClock } from 'xstate';
export { scriptedModel, type ScriptedModel, type ScriptedModelOptions, type ScriptedReply, type ScriptStep } from '../model/scriptedModel.js';
export { createMemoryStore } from '../store/memoryStore.js';
export { createAgentActor, whenSettled } from '../runtime/agentActor.js';
