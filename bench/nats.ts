/**
 * The micro-agent bench over NATS (DESIGN.md, "Performance, measured against a floor"): the same
 * task as bench/microAgent.ts ("one user message, four tool calls, then a final answer"), but each
 * run goes trigger to result through NATS. A plain NATS client publishes a trigger on
 * `bench.trigger.bench` (JetStream, with a msg id and a `replyTo`) and waits for the result on its
 * reply subject; a worker (createNatsNode: KV thread store, durable work queue, the real `openai`
 * model against the fake server) takes the job, runs the thread with every event persisted in the
 * KV bucket, and publishes the result. The worker runs in this process (`workers: 0`) or as that
 * many child processes (bench/natsWorker.ts), all on one nats-server started here on 127.0.0.1.
 *
 * Measured: runs/s, CPU per run of this process, of the workers, of the nats-server and of the fake
 * model server (from /proc), peak RSS of this process, and NATS messages per run (in + out of
 * every connection, from `nc.stats()`).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { createOpenAIModel } from '../src/model/openaiModel.js';
import { createNatsNode, type NatsNode } from '../src/nats/natsNode.js';
import type { TriggerResult } from '../src/surface/payloads.js';
import { startNatsServer } from '../test/support/natsServer.js';
import { measure, useFreshConnectionPool, type FakeServerProcess } from './harness.js';
import { ANSWER, benchAgent, STEPS, TASK } from './microAgent.js';
import { NATS_BENCH_PREFIX as PREFIX, natsServerPid, procCpuMs, startBenchWorker, type BenchNodeOptions, type BenchWorker, type NatsStats } from './natsProcesses.js';

/** Options of {@link benchNats}. */
export interface NatsBenchOptions {
  /** The fake OpenAI-compatible server (its CPU is read from /proc). */
  fake: FakeServerProcess;
  /** Runs in flight at once. */
  concurrency: number;
  /** Measured runs. */
  runs: number;
  /** Worker processes; 0 runs the worker in this process, beside the client. @default 0 */
  workers?: number;
  /** Runs before the measurement (JIT, connection pools, queue set-up). @default min(runs, max(20, 2 x concurrency)) */
  warmupRuns?: number;
  /** No measured run starts after this long. @default 60000 */
  timeBoxMs?: number;
  /** Extra options of the workers' `createNatsNode` (a variant under comparison). @default {} */
  nodeOptions?: BenchNodeOptions;
}

/** What {@link benchNats} measured. */
export interface NatsBenchResult {
  readonly workers: number;
  readonly runs: number;
  readonly runsPerSec: number;
  /** User + system CPU of this process (the client, and the worker when `workers` is 0) per run. */
  readonly cpuMsPerRun: number;
  readonly cpuMsPerStep: number;
  /** CPU of the worker processes per run (0 when the worker runs in this process). */
  readonly workerCpuMsPerRun: number;
  /** CPU of the nats-server per run (undefined where /proc cannot tell). */
  readonly natsServerCpuMsPerRun: number | undefined;
  /** CPU of the fake model server per run. */
  readonly fakeCpuMsPerRun: number | undefined;
  /** Messages in and out of every connection (client and workers), per run. */
  readonly natsMsgsPerRun: number;
  /** Bytes in and out of every connection, per run. */
  readonly natsKbPerRun: number;
  readonly peakRssMb: number;
  /** Event-loop utilization of this process. */
  readonly eventLoopUtilization: number;
}

/** The worker side of one measurement: in this process or child processes. */
interface Workers {
  readonly pids: readonly number[];
  stats(): Promise<NatsStats[]>;
  close(): Promise<void>;
}

async function startWorkers(count: number, natsUrl: string, baseURL: string, concurrency: number, nodeOptions: BenchNodeOptions): Promise<Workers> {
  if (count === 0) {
    const node: NatsNode = await createNatsNode({
      ...nodeOptions,
      servers: natsUrl,
      name: 'bench-worker',
      agents: [benchAgent],
      model: createOpenAIModel({ baseURL, apiKey: 'bench' }),
      prefix: PREFIX,
      concurrency: Math.max(1, concurrency),
      maxConcurrent: Math.max(64, concurrency),
      observe: false,
    });
    return { pids: [], stats: async () => [node.bus.nc.stats()], close: () => node.close({ drainMs: 5_000 }) };
  }
  const workers: BenchWorker[] = [];
  try {
    for (let i = 0; i < count; i++) {
      workers.push(await startBenchWorker({ natsUrl, baseURL, name: `bench-worker-${i + 1}`, concurrency: Math.max(1, concurrency), nodeOptions }));
    }
  } catch (error) {
    await Promise.all(workers.map((w) => w.stop()));
    throw error;
  }
  return {
    pids: workers.map((w) => w.pid),
    stats: () => Promise.all(workers.map((w) => w.stats())),
    close: async () => {
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}

/** The trigger-to-result client: publishes triggers and resolves each run on its result. */
function benchClient(client: NatsConnection): (index: number) => Promise<void> {
  const js = jetstream(client);
  const waiting = new Map<string, (result: TriggerResult) => void>();
  client.subscribe(`${PREFIX}.results.>`, {
    callback: (error, msg) => {
      if (error) return;
      waiting.get(msg.subject)?.(msg.json<TriggerResult>());
    },
  });
  const stamp = Date.now().toString(36);
  return async (index: number): Promise<void> => {
    const replyTo = `${PREFIX}.results.${index}`;
    const result = new Promise<TriggerResult>((resolve) => waiting.set(replyTo, resolve));
    await js.publish(`${PREFIX}.trigger.bench`, JSON.stringify({ input: TASK, replyTo }), { msgID: `bench-${stamp}-${index}` });
    const { status, output, failure, threadId } = await result;
    waiting.delete(replyTo);
    if (status !== 'done' || output !== ANSWER) {
      throw new Error(`nats: thread ${threadId} ended ${status} with output ${JSON.stringify(output)}${failure ? ` (${failure})` : ''}; expected done, "${ANSWER}"`);
    }
  };
}

const sum = (stats: readonly NatsStats[]): { msgs: number; bytes: number } => ({
  msgs: stats.reduce((n, s) => n + s.inMsgs + s.outMsgs, 0),
  bytes: stats.reduce((n, s) => n + s.inBytes + s.outBytes, 0),
});

/**
 * Runs the micro-agent task over NATS `runs` times with `concurrency` in flight, against its own
 * nats-server (stopped at the end). Throws when a run does not end `done` with the expected answer.
 *
 * @example
 * ```ts
 * const fake = await startFakeServer();
 * const result = await benchNats({ fake, concurrency: 50, runs: 1000, workers: 2 });
 * ```
 */
export async function benchNats(options: NatsBenchOptions): Promise<NatsBenchResult> {
  const { fake, concurrency, runs, timeBoxMs = 60_000, workers: workerCount = 0 } = options;
  const warmupRuns = options.warmupRuns ?? Math.min(runs, Math.max(20, 2 * concurrency));
  const server = await startNatsServer();
  const serverPid = natsServerPid(server.port);
  const restorePool = await useFreshConnectionPool(`${fake.baseURL}/models`);
  let workers: Workers | undefined;
  let client: NatsConnection | undefined;
  try {
    workers = await startWorkers(workerCount, server.url, fake.baseURL, concurrency, options.nodeOptions ?? {});
    client = await connect({ servers: server.url, name: 'bench-client', noAsyncTraces: true });
    const run = benchClient(client);
    await client.flush();
    const messages = async (): Promise<{ msgs: number; bytes: number }> => sum([client!.stats(), ...(await workers!.stats())]);
    const before = await messages();
    // measure() reads the "other" CPU right before and right after the measured runs.
    const cpu: number[][] = [];
    const pids = [fake.pid, serverPid, ...workers.pids];
    const measured = await measure({
      concurrency,
      maxRuns: runs,
      timeBoxMs,
      warmupRuns,
      otherCpuMs: () => {
        cpu.push(pids.map((pid) => procCpuMs(pid) ?? Number.NaN));
        return undefined;
      },
      run,
    });
    const after = await messages();
    const perRun = (i: number): number => (cpu[1]![i]! - cpu[0]![i]!) / measured.runs;
    const defined = (n: number): number | undefined => (Number.isFinite(n) ? n : undefined);
    const allRuns = warmupRuns + measured.runs;
    return {
      workers: workerCount,
      runs: measured.runs,
      runsPerSec: measured.runsPerSec,
      cpuMsPerRun: measured.cpuMsPerRun,
      cpuMsPerStep: measured.cpuMsPerRun / STEPS,
      workerCpuMsPerRun: workers.pids.reduce((total, _pid, i) => total + perRun(2 + i), 0),
      natsServerCpuMsPerRun: defined(perRun(1)),
      fakeCpuMsPerRun: defined(perRun(0)),
      natsMsgsPerRun: (after.msgs - before.msgs) / allRuns,
      natsKbPerRun: (after.bytes - before.bytes) / allRuns / 1024,
      peakRssMb: measured.peakRssMb,
      eventLoopUtilization: measured.eventLoopUtilization,
    };
  } finally {
    await client?.close().catch(() => undefined);
    await workers?.close().catch(() => undefined);
    await restorePool();
    await server.stop();
  }
}
