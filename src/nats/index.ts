/**
 * `switchyard/nats`: the distributed deployment. A NATS bus, a thread store in a NATS KV bucket,
 * per-agent JetStream work queues and the NATS surface (triggers, request/reply, events).
 */
export { createNatsBus, type NatsBus, type NatsBusOptions } from '../bus/natsBus.js';
export { createAgentQueues, type AgentQueues, type AgentQueuesConfig, type AgentQueuesOptions, type Claim } from './agentQueues.js';
export { attachNats, type AttachNatsOptions, type CloseNatsOptions, type NatsSurface } from './attachNats.js';
export { threadIdOfKey, threadKey } from './kvKeys.js';
export { CorruptThreadError, createNatsKvStore, DEFAULT_THREADS_BUCKET, type NatsKvStoreOptions, type StoredThreadValue } from './kvStore.js';
export {
  controlPayloadSchema,
  jobPayloadSchema,
  triggerPayloadSchema,
  type ControlPayload,
  type ErrorReply,
  type HumanRequestNotice,
  type JobPayload,
  type ThreadBrief,
  type ThreadReply,
  type ThreadRequestErrorCode,
  type TriggerPayload,
  type TriggerResult,
} from './payloads.js';
export {
  DEFAULT_PREFIX,
  MSG_ID_HEADER,
  natsSubjects,
  PROCESS_HEADER,
  REPLY_TO_HEADER,
  THREAD_OPS,
  type NatsSubjects,
  type ThreadOp,
} from './subjects.js';
export { createNatsNode, type NatsNode, type NatsNodeOptions } from './natsNode.js';
