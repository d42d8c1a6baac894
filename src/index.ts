/**
 * `switchyard`: the core. Agent and tool definitions and the author's own steps, pipelines, the
 * project config (`defineConfig`), the thread (events, reducer, derived state), the context
 * renderer, models, the runtime, the embedded default (`createFileStore`, `createMemoryBus`, the
 * `Bus` and `ThreadStore` interfaces) and the surface over any bus. Nothing here imports NATS or
 * HTTP: those are `switchyard/nats` and `switchyard/server` (and `switchyard/inspector`); what
 * tests of a user's agents need is `switchyard/testing`.
 *
 * @packageDocumentation
 */
export { agent, isAgent, type Agent, type AgentOptions, type BackoffOptions, type PrefetchContext, type PrefetchStep, type PromptVariable } from './agent/agent.js';
export {
  beforeDecision,
  intent,
  judge,
  type BeforeDecisionStep,
  type CustomStep,
  type IntentStep,
  type JudgeResult,
  type JudgeStep,
  type StepContext,
  type StepResult,
} from './agent/customStep.js';
export { stepEvents, type StepEventsOptions } from './agent/customStepRun.js';
export { tool, toJson, type Tool, type ToolContext, type ToolOptions, type ToolPolicy } from './agent/tool.js';
export { promptHash, promptTemplate, type PromptTemplate, type PromptVariables } from './agent/prompt.js';
export { systemClock, type Clock } from './clock.js';
export { redactJson, redactText, REDACTED } from './context/redact.js';
export { estimateTokens, renderContext, renderEvent, type RenderContextOptions, type RenderedContext } from './context/renderContext.js';
export { parseContext, type ContextBlock } from './context/parseContext.js';
export { agentContext, contextHelpers, type ContextFunction, type ContextHelpers } from './context/ownContext.js';
export {
  ConfigError,
  CorruptDataError,
  InvalidInputError,
  InvalidStateError,
  isSwitchyardError,
  NotFoundError,
  NotSupportedError,
  SwitchyardError,
  SystemError,
  RuntimeClosedError,
  ThreadEndedError,
  ThreadTooLargeError,
  UnknownAgentError,
  UnreadableThreadError,
  VersionConflictError,
  refusalCodeOf,
  refusalKindOf,
  STATE_CONFLICTS,
  type RefusalCode,
  type RefusalKind,
  type StateConflict,
} from './errors.js';
export { checkConfig, defineConfig, type StoreContext, type SwitchyardConfig } from './runtime/config.js';
export { createLogger, silentLogger, type Logger, type LoggerOptions } from './logger.js';
export type { Model, ModelFailure, ModelOutput, ModelRequest, ModelResult, ToolSpec } from './model/model.js';
export { createOpenAIModel, type OpenAIModelOptions } from './model/openaiModel.js';
export { createHttpTransport, type FetchFunction, type HttpTransportOptions } from './model/httpTransport.js';
export { parseNextStep, type NextStep } from './model/nextStep.js';
export { createMemoryStore } from './store/memoryStore.js';
export type { FailureSummary, ListOptions, PendingRequestSummary, ThreadStore, ThreadSummary } from './store/threadStore.js';
export {
  DONE_FOR_NOW,
  EVENT_TYPES,
  eventSchema,
  REQUEST_HUMAN_INPUT,
  threadSchema,
  versionOf,
  type CustomData,
  type CustomPhase,
  type EscalationReason,
  type EventOf,
  type EventType,
  type HumanRequest,
  type HumanResponse,
  type Json,
  type NewEvent,
  type Source,
  type Thread,
  type ThreadEvent,
} from './thread/events.js';
export { humanResponseInputSchema, validateResponse } from './thread/humanResponse.js';
export {
  deriveState,
  isThreadStatus,
  reduceState,
  statusOf,
  TERMINAL_STATUSES,
  RESTING_STATUSES,
  THREAD_STATUSES,
  threadStatus,
  unrecordedCall,
  type AskedRequest,
  type PendingCall,
  type ThreadState,
  type ThreadStatus,
  type UnrecordedCall,
} from './thread/state.js';
export { reduce } from './thread/thread.js';
export { createAgentActor, whenSettled, type AgentActor, type AgentActorOptions, type Settled } from './runtime/agentActor.js';
export {
  createRuntime,
  THREAD_ID_PATTERN,
  type AbandonedCall,
  type AbandonedCalls,
  type ControlOptions,
  type ControlWait,
  type Escalation,
  type DeletedThread,
  type LaunchInputOf,
  type LaunchInputs,
  type LaunchInputsOf,
  type LaunchOptions,
  type Runtime,
  type RunOptions,
  type RuntimeCloseOptions,
  type RuntimeOptions,
  type ThreadChange,
  type ThreadDeletion,
  type ThreadView,
  type WatchOptions,
} from './runtime/runtime.js';
export { startRetention, type Retention, type RetentionOptions } from './runtime/retention.js';
export { agentStep, branchStep, childThreadId, codeStep, FINISH, isPipeline, MAX_PIPELINE_DEPTH, pipeline, sleepStep, type AgentStep, type BranchStep, type CodeStep, type Finish, type Jsonified, type SleepStep, type Pipeline, type PipelineBuilder, type PipelineHead, type PipelineOptions, type PipelineStep, type PipelineStepContext, type SleepResult, type TypedStepContext } from './pipeline/pipeline.js';
export { supervisorMachine, type AgentRest, type SupervisorEvent, type SupervisorInput } from '../machines/supervisorMachine.js';
export { createPipelineMachine, type PipelineMachineEvent, type PipelineMachineInput } from '../machines/pipelineMachine.js';
export { agentMachine, agentMachineFor, type AgentMachineEvent, type AgentMachineInput, type AgentMachineOutput } from '../machines/agentMachine.js';
export { doneForNow, humanTools, requestHumanInput } from './agent/humanTools.js';
export { createFileStore, type FileStoreOptions } from './store/fileStore.js';
export { fileDeliveryLedger, type DeliveryLedger, type OwedRecord } from './store/deliveryLedger.js';
export {
  BusError,
  isBusError,
  QueueOwnerError,
  type Bus,
  type BusErrorCode,
  type BusErrorHandler,
  type BusHandler,
  type BusHeaders,
  type BusMessage,
  type BusOptions,
  type BusPayload,
  type BusSubscription,
  type ConsumeOptions,
  type DeadLetter,
  type EnqueueOptions,
  type EnqueueResult,
  type Job,
  type JobConsumer,
  type JobHandler,
  type JobQueue,
  type JobQueueOptions,
  type PublishOptions,
  type RequestOptions,
  type RespondOptions,
  type SubscribeOptions,
} from './bus/bus.js';
export { createMemoryBus, type MemoryBusOptions } from './bus/memoryBus.js';
export { createAgentQueues, type AgentQueues, type AgentQueuesConfig, type AgentQueuesOptions, type Claim } from './surface/agentQueues.js';
export { attachBus, type AttachBusOptions, type BusSurface, type CloseSurfaceOptions } from './surface/attachBus.js';
export {
  CALLBACK_HEADERS,
  callbackUrlOf,
  createCallbackSender,
  type CallbackDelivery,
  type CallbackOptions,
  type CallbackPayload,
  type CallbackSender,
} from './surface/callbacks.js';
export { guardedRuntime } from './surface/guardedRuntime.js';
export {
  controlPayloadSchema,
  jobPayloadSchema,
  triggerPayloadSchema,
  type ControlPayload,
  type ErrorReply,
  type HumanRequestNotice,
  type JobPayload,
  type Refusal,
  type ThreadBrief,
  type ThreadRefusal,
  type ThreadReply,
  type ThreadRequestErrorCode,
  type ThreadRequestErrorKind,
  type TriggerPayload,
  type TriggerResult,
} from './surface/payloads.js';
export {
  DEFAULT_PREFIX,
  MSG_ID_HEADER,
  busSubjects,
  PROCESS_HEADER,
  REPLY_TO_HEADER,
  THREAD_OPS,
  type BusSubjects,
  type ThreadOp,
} from './surface/subjects.js';
