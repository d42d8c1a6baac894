/**
 * The micro-agent bench over NATS (DESIGN.md, "Performance, measured against a floor"): the same
 * task as bench/microAgent.ts ("one user message, four tool calls, then a final answer"), but each
 * run goes trigger to result through NATS. A plain NATS client publishes a trigger on
 * `bench.trigger.bench` (JetStream, with a msg id and a `replyTo`) and waits for the result on its
 * reply subject; a worker in this process (createNatsNode: KV thread store, durable work queue,
 * the real `openai` model against the fake server) takes the job, runs the thread with every event
 * persisted in the KV bucket, and publishes the result.
 *
 * Measured in this process (the client and the worker both): runs/s, CPU per run and per step,
 * peak RSS, and NATS messages per run (in + out of both connections, from `nc.stats()`). The
 * nats-server and the fake OpenAI server are other processes and not counted.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { createOpenAIModel } from '../src/model/openaiModel.js';
import { createNatsNode } from '../src/nats/natsNode.js';
import type { TriggerResult } from '../src/surface/payloads.js';
import { startNatsServer } from '../test/support/natsServer.js';
import { measure, useFreshConnectionPool } from './harness.js';
import { ANSWER, benchAgent, STEPS, TASK } from './microAgent.js';

const PREFIX = 'bench';

/** Options of {@link benchNats}. */
export interface NatsBenchOptions {
  /** The fake OpenAI-compatible server's base URL. */
  baseURL: string;
  /** Runs in flight at once. */
  concurrency: number;
  /** Measured runs. */
  runs: number;
  /** Runs before the measurement (JIT, connection pools, queue set-up). @default min(runs, max(20, 2 x concurrency)) */
  warmupRuns?: number;
  /** No measured run starts after this long. @default 60000 */
  timeBoxMs?: number;
}

/** What {@link benchNats} measured. */
export interface NatsBenchResult {
  readonly runsPerSec: number;
  /** User + system CPU of this process (client and worker) per run. */
  readonly cpuMsPerRun: number;
  readonly cpuMsPerStep: number;
  /** Messages in and out of the client's and the worker's NATS connections, per run. */
  readonly natsMsgsPerRun: number;
  readonly peakRssMb: number;
}

/**
 * Runs the micro-agent task over NATS `runs` times with `concurrency` in flight, against its own
 * nats-server (stopped at the end). Throws when a run does not end `done` with the expected answer.
 *
 * @example
 * ```ts
 * const server = await startFakeServer();
 * const result = await benchNats({ baseURL: server.baseURL, concurrency: 50, runs: 1000 });
 * ```
 */
export async function benchNats(options: NatsBenchOptions): Promise<NatsBenchResult> {
  const { baseURL, concurrency, runs, timeBoxMs = 60_000 } = options;
  const warmupRuns = options.warmupRuns ?? Math.min(runs, Math.max(20, 2 * concurrency));
  const server = await startNatsServer();
  const restorePool = await useFreshConnectionPool(`${baseURL}/models`);
  const worker = await createNatsNode({
    servers: server.url,
    name: 'bench-worker',
    agents: [benchAgent],
    model: createOpenAIModel({ baseURL, apiKey: 'bench' }),
    prefix: PREFIX,
    concurrency: Math.max(1, concurrency),
    maxConcurrent: Math.max(64, concurrency),
    observe: false,
  });
  const client = await connect({ servers: server.url, name: 'bench-client' });
  try {
    const js = jetstream(client);
    const waiting = new Map<string, (result: TriggerResult) => void>();
    client.subscribe(`${PREFIX}.results.>`, {
      callback: (error, msg) => {
        if (error) return;
        const result = msg.json<TriggerResult>();
        waiting.get(msg.subject)?.(result);
      },
    });
    await client.flush();
    const stamp = Date.now().toString(36);

    const run = async (index: number): Promise<void> => {
      const replyTo = `${PREFIX}.results.${index}`;
      const result = new Promise<TriggerResult>((resolve) => waiting.set(replyTo, resolve));
      await js.publish(`${PREFIX}.trigger.bench`, JSON.stringify({ input: TASK, replyTo }), { msgID: `bench-${stamp}-${index}` });
      const { status, output, failure, threadId } = await result;
      waiting.delete(replyTo);
      if (status !== 'done' || output !== ANSWER) {
        throw new Error(`nats: thread ${threadId} ended ${status} with output ${JSON.stringify(output)}${failure ? ` (${failure})` : ''}; expected done, "${ANSWER}"`);
      }
    };

    const messages = (): number => {
      const a = client.stats();
      const b = worker.bus.nc.stats();
      return a.inMsgs + a.outMsgs + b.inMsgs + b.outMsgs;
    };
    const before = messages();
    const measured = await measure({ concurrency, maxRuns: runs, timeBoxMs, warmupRuns, run });
    const natsMsgsPerRun = (messages() - before) / (warmupRuns + measured.runs);
    return {
      runsPerSec: measured.runsPerSec,
      cpuMsPerRun: measured.cpuMsPerRun,
      cpuMsPerStep: measured.cpuMsPerRun / STEPS,
      natsMsgsPerRun,
      peakRssMb: measured.peakRssMb,
    };
  } finally {
    await client.close().catch(() => undefined);
    await worker.close({ drainMs: 5_000 }).catch(() => undefined);
    await restorePool();
    await server.stop();
  }
}
