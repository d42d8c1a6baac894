/**
 * A worker process of the NATS benches (started by bench/natsProcesses.ts): what `switchyard
 * worker` runs (createNatsNode: KV thread store, durable work queues, the real `openai` model
 * against the fake server) for the bench agent. Prints `{"ready":true}` once attached, answers
 * each `stats` line on stdin with its connection's counters, and closes on SIGTERM.
 *
 *   node --import tsx bench/natsWorker.ts '{"natsUrl":...,"baseURL":...,"name":...,"concurrency":50}'
 */
import { createInterface } from 'node:readline';
import { createOpenAIModel } from '../src/model/openaiModel.js';
import { createNatsNode } from '../src/nats/natsNode.js';
import { benchAgent } from './microAgent.js';
import { NATS_BENCH_PREFIX, type BenchWorkerArgs } from './natsProcesses.js';

const args = JSON.parse(process.argv[2] ?? '{}') as BenchWorkerArgs;
const node = await createNatsNode({
  ...args.nodeOptions,
  servers: args.natsUrl,
  name: args.name,
  agents: [benchAgent],
  model: createOpenAIModel({ baseURL: args.baseURL, apiKey: 'bench' }),
  prefix: NATS_BENCH_PREFIX,
  concurrency: args.concurrency,
  maxConcurrent: Math.max(64, args.concurrency),
  observe: false,
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'stats') return;
  const { inMsgs, outMsgs, inBytes, outBytes } = node.bus.nc.stats();
  process.stdout.write(`${JSON.stringify({ inMsgs, outMsgs, inBytes, outBytes })}\n`);
});

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void node
    .close({ drainMs: 5_000 })
    .catch(() => undefined)
    .then(() => process.exit(0));
});
