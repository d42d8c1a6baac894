// Your own process instead of `switchyard serve`, built from the public entry points: the same
// runtime, HTTP API and inspector, in code you control (add routes, auth, metrics...).
//
//   npm run own-server                                   # threads in files under .switchyard/threads
//   NATS_URL=nats://127.0.0.1:4222 npm run own-server    # on NATS: KV store, durable jobs, the subjects
import { createFileStore, createLogger, createMemoryBus, createRuntime, type Bus, type Runtime } from 'switchyard';
import { createBusInspector, inspectorExtension, type BusInspector } from 'switchyard/inspector';
import { createNatsNode } from 'switchyard/nats';
import { startHttpServer } from 'switchyard/server';
import { refunds } from './agents/refunds/index.js';
import { projectModel } from './model.js';

/** A runtime, the bus its inspection events travel on, and how to close both. */
interface Backend {
  readonly runtime: Runtime;
  readonly bus: Bus;
  close(): Promise<void>;
}

const logger = createLogger();
const model = projectModel();

/** The embedded default: a file store and an in-process bus, every thread run here. */
async function embedded(): Promise<Backend> {
  const store = await createFileStore({ dir: '.switchyard/threads' });
  const bus = createMemoryBus();
  const inspector = createBusInspector({ bus });
  const runtime = createRuntime({ agents: [refunds], store, model, logger, inspect: inspector.inspect });
  return {
    runtime,
    bus,
    async close() {
      await runtime.close();
      await inspector.close();
      await bus.close();
    },
  };
}

/** On NATS: threads in a KV bucket, runs as durable jobs any number of processes share. */
async function onNats(servers: string): Promise<Backend> {
  // The inspector publishes on the node's bus, which exists once the node does.
  let inspector: BusInspector | undefined;
  const node = await createNatsNode({ servers, agents: [refunds], model, logger, inspect: (event) => inspector?.inspect(event) });
  inspector = createBusInspector({ bus: node.bus });
  const started = inspector;
  return {
    runtime: node.runtime,
    bus: node.bus,
    async close() {
      await started.close();
      await node.close();
    },
  };
}

const backend = process.env.NATS_URL ? await onNats(process.env.NATS_URL) : await embedded();
await backend.runtime.recover();
const server = await startHttpServer(backend.runtime, {
  port: Number(process.env.PORT ?? 7878),
  logger,
  extensions: [inspectorExtension({ bus: backend.bus })],
});
console.log(`refunds listening on ${server.url} (inspector: ${server.url}/inspector)`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void server
      .close()
      .then(() => backend.close())
      .then(() => process.exit(0));
  });
}
