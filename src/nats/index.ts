/**
 * `switchyard/nats`: the distributed deployment, the only code that speaks `@nats-io`: a NATS bus
 * (core NATS and JetStream work queues), a thread store in a NATS KV bucket, and `createNatsNode`,
 * which joins all of it in one call. The surface itself (triggers, request/reply, events, job
 * queues: `attachBus`, `createAgentQueues`) works on any bus and is exported from `switchyard`.
 */
export { createNatsBus, type NatsBus, type NatsBusOptions } from './natsBus.js';
export { threadIdOfKey, threadKey } from './kvKeys.js';
export { CorruptThreadError, createNatsKvStore, DEFAULT_THREADS_BUCKET, type NatsKvStoreOptions, type StoredThreadValue } from './kvStore.js';
export { createNatsNode, type NatsNode, type NatsNodeOptions } from './natsNode.js';
