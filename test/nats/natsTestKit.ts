/** Helpers of the NATS surface tests: in-process nodes and a plain NATS client, every wait bounded. */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Agent } from '../../src/agent/agent.js';
import type { Model } from '../../src/model/model.js';
import { createNatsNode, type NatsNode, type NatsNodeOptions } from '../../src/nats/natsNode.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { busSubjects } from '../../src/surface/subjects.js';
import { collector, deferred, eventually, uniqueToken } from '../bus/waiting.js';
import { startNatsServer, type NatsServerHandle, type StartNatsServerOptions } from '../support/natsServer.js';

export { collector, deferred, eventually, uniqueToken, within } from '../bus/waiting.js';

/** Fast reconnects, so a server restart costs a test a fraction of a second. */
export const FAST_RECONNECT = { reconnectTimeWait: 100, reconnectJitter: 0, reconnectJitterTLS: 0 };

/** Starts an in-process node (runtime + surface) on `servers`. */
export function startNode(
  servers: string | string[],
  options: { agents: readonly Agent[]; pipelines?: readonly Pipeline[]; model: Model; prefix: string; bucket?: string } & Partial<NatsNodeOptions>,
): Promise<NatsNode> {
  return createNatsNode({ connectOptions: FAST_RECONNECT, ...options, servers });
}

/**
 * Makes `node`'s store unable to create a thread: a create waits until `fail()`, then throws
 * "the store is down"; `creating` resolves as the first one starts.
 */
export function failingCreates(node: NatsNode): { creating: Promise<void>; fail: () => void } {
  const creating = deferred();
  const failed = deferred();
  node.store.create = async () => {
    creating.resolve();
    await failed.promise;
    throw new Error('the store is down');
  };
  return { creating: creating.promise, fail: () => failed.resolve() };
}

/**
 * The thread `threadId` once `node` reads it `done` (a read that fails, the server away a moment,
 * counts as not yet), within `ms`.
 */
export function doneOn(node: NatsNode, threadId: string, ms: number, what: string): Promise<ThreadView> {
  return eventually(
    async () => {
      const thread = await node.runtime.get(threadId).catch(() => undefined);
      return thread?.status === 'done' ? thread : undefined;
    },
    ms,
    what,
    200,
  );
}

/**
 * Resolves once every job on the queues of `agents` (under `prefix`) is settled, none pending nor
 * waiting for its ack (a job reports its rest before its ack), and `client` has read what was
 * sent to it before.
 */
export async function jobsSettled(client: PlainClient, prefix: string, agents: readonly string[], ms = 20_000): Promise<void> {
  const jsm = await jetstreamManager(client.nc);
  for (const stream of agents.map((agent) => busSubjects(prefix).queueName(agent))) {
    await eventually(async () => {
      const info = await jsm.consumers.info(stream, `${stream}_workers`);
      return info.num_pending === 0 && info.num_ack_pending === 0 ? info : undefined;
    }, ms, `the jobs of ${stream} to be settled`, 100);
  }
  await client.nc.flush();
}

/** A stock NATS client: core publish/subscribe/request and JetStream publish, nothing of switchyard. */
export interface PlainClient {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  /** Publishes a trigger as JSON through JetStream, with a msg id and optional headers. */
  trigger(subject: string, payload: unknown, options?: { msgId?: string; headers?: Record<string, string> }): ReturnType<JetStreamClient['publish']>;
  /** A fresh reply subject and what arrives on it (parsed JSON). */
  inbox<T = Record<string, unknown>>(): { subject: string; messages: ReturnType<typeof collector<T>> };
  /** Collects the JSON payloads (and subjects) published on `pattern`. */
  watch<T = Record<string, unknown>>(pattern: string): ReturnType<typeof collector<{ subject: string; data: T; headers: Record<string, string> }>>;
  /** A core request with a JSON payload; resolves with the parsed reply. */
  request<T = Record<string, unknown>>(subject: string, payload: unknown, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export async function plainClient(servers: string | string[]): Promise<PlainClient> {
  const nc = await connect({ servers, ...FAST_RECONNECT, maxReconnectAttempts: -1 });
  const js = jetstream(nc);
  const subscriptions: Subscription[] = [];
  const encode = (payload: unknown): string | Uint8Array => (typeof payload === 'string' || payload instanceof Uint8Array ? payload : JSON.stringify(payload));
  function watch<T>(pattern: string) {
    const got = collector<{ subject: string; data: T; headers: Record<string, string> }>();
    subscriptions.push(
      nc.subscribe(pattern, {
        callback: (error, msg) => {
          if (error) return;
          const headers: Record<string, string> = {};
          for (const [key, values] of msg.headers ?? []) headers[key] = values[0] ?? '';
          let data: T;
          try {
            data = msg.json<T>();
          } catch {
            data = msg.string() as T; // not JSON (an empty probe, say): kept as text
          }
          got.push({ subject: msg.subject, data, headers });
        },
      }),
    );
    return got;
  }
  return {
    nc,
    js,
    trigger(subject, payload, options = {}) {
      const hdrs = natsHeaders();
      for (const [key, value] of Object.entries(options.headers ?? {})) hdrs.set(key, value);
      return js.publish(subject, encode(payload), { ...(options.msgId ? { msgID: options.msgId } : {}), headers: hdrs });
    },
    inbox<T>() {
      const subject = `test.reply.${uniqueToken()}`;
      const messages = collector<T>();
      subscriptions.push(
        nc.subscribe(subject, {
          callback: (error, msg) => {
            if (!error) messages.push(msg.json<T>());
          },
        }),
      );
      return { subject, messages };
    },
    watch,
    async request<T>(subject: string, payload: unknown, timeoutMs = 10_000) {
      const reply = await nc.request(subject, encode(payload), { timeout: timeoutMs });
      return reply.json<T>();
    },
    async close() {
      for (const sub of subscriptions) sub.unsubscribe();
      await nc.close();
    },
  };
}

/** One nats-server and a stock client for a test file, and the nodes its tests start (closed after each). */
export interface NatsTestBed {
  readonly client: PlainClient;
  readonly url: string;
  /** Starts a node with short queue timings (overridable), closed after the test. */
  node(options: Parameters<typeof startNode>[1]): Promise<NatsNode>;
  /** Closes one node before the test ends (a process that goes away). */
  closeNode(node: NatsNode): Promise<void>;
}

/** Registers the hooks of a {@link NatsTestBed} in the calling test file, its server started with `serverOptions`. */
export function useNatsTestBed(serverOptions: StartNatsServerOptions = {}): NatsTestBed {
  let server: NatsServerHandle | undefined;
  let client: PlainClient | undefined;
  const nodes: NatsNode[] = [];
  beforeAll(async () => {
    server = await startNatsServer(serverOptions);
    client = await plainClient(server.url);
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((node) => node.close({ drainMs: 1_000 })));
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });
  return {
    get client() {
      return client!;
    },
    get url() {
      return server!.url;
    },
    async node(options) {
      const started = await startNode(server!.url, { queue: { ackWaitMs: 5_000, retryDelayMs: 200, maxDeliver: 3 }, ...options });
      nodes.push(started);
      return started;
    },
    async closeNode(node) {
      const index = nodes.indexOf(node);
      if (index >= 0) nodes.splice(index, 1);
      await node.close({ drainMs: 1_000 });
    },
  };
}
