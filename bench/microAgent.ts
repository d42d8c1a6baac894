/**
 * The micro-agent benchmark (DESIGN.md, "Performance, measured against a floor").
 *
 * The same task, "one user message, four tool calls, then a final answer", run
 * - by a hand-written loop on the bare `openai` SDK (the floor), and
 * - by a switchyard agent (agent() + tool(), createRuntime, launch + settled),
 * against the same stateless fake OpenAI-compatible server in a child process, with 1 and with 50
 * runs in flight. Measurements of the two modes alternate in rounds and the ratio is the median of
 * the per-round ratios, because these machines are noisy. Targets at 50 in flight (memory store):
 * switchyard >= 0.85x the bare loop on the SDK's default fetch, and >= 0.75x the bare loop given
 * switchyard's own model transport (the framework's own price, measured in every round at 50).
 * Bytes allocated per run are sampled after the timed rounds. A file store run is informative.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { z } from 'zod';
import { agent } from '../src/agent/agent.js';
import { tool } from '../src/agent/tool.js';
import type { Model } from '../src/model/model.js';
import { createHttpTransport } from '../src/model/httpTransport.js';
import { createOpenAIModel } from '../src/model/openaiModel.js';
import { createRuntime, type Runtime } from '../src/runtime/runtime.js';
import { createMemoryStore } from '../src/store/memoryStore.js';
import type { ThreadStore } from '../src/store/threadStore.js';
import {
  fixed,
  median,
  measure,
  printTable,
  ROOT,
  sampleAllocations,
  startFakeServer,
  type BenchResult,
  type FakeServerProcess,
  type Measurement,
  useFreshConnectionPool,
} from './harness.js';

/** Requests per run: four tool calls and the final answer. */
export const STEPS = 5;
const TOOL_CALLS = 4;
/** The fake server's final answer. */
export const ANSWER = 'the answer is 10';
const TARGET_RATIO = 0.85;
/** Against the bare loop on switchyard's transport: what the framework itself may cost. */
const TARGET_SAME_TRANSPORT = 0.75;
const TARGET_CONCURRENCY = 50;
export const TASK = 'Add 1 to 0, then 1 to the result, and so on: four additions in all. Then state the answer.';
const SYSTEM =
  'You are bench: you add numbers with the add tool. Call exactly one tool per turn, one addition per step; ' +
  'never compute in your head. When the answer is known, state it in a short sentence.';

/** How much to measure at each concurrency. */
export interface Plan {
  readonly concurrency: number;
  readonly rounds: number;
  readonly timeBoxMs: number;
  readonly maxRuns: number;
  readonly warmupRuns: number;
}

const FULL_PLANS: readonly Plan[] = [
  { concurrency: 1, rounds: 3, timeBoxMs: 3_000, maxRuns: 1_000, warmupRuns: 30 },
  // 2,000 warm-up runs: the steady state of a long-running process (at 200 V8 was still optimizing
  // switchyard's code, which made its ratio about 0.05 lower); three rounds keep the bench's time.
  { concurrency: 50, rounds: 3, timeBoxMs: 5_000, maxRuns: 5_000, warmupRuns: 2_000 },
];
const QUICK_PLANS: readonly Plan[] = [
  { concurrency: 1, rounds: 1, timeBoxMs: 600, maxRuns: 200, warmupRuns: 10 },
  { concurrency: 50, rounds: 1, timeBoxMs: 1_000, maxRuns: 1_000, warmupRuns: 100 },
];
/** Runs sampled for allocations per mode (after 200 warm-up runs). */
const ALLOCATION_RUNS = { full: 1_000, quick: 150 } as const;

export type Mode = 'bare' | 'bare+transport' | 'switchyard' | 'switchyard+fileStore' | 'switchyard+instantModel';

/** One measured mode: builds its per-measurement resources and runs one task. */
export interface Runner {
  readonly mode: Mode;
  /** Fresh state for one measurement (a client, a runtime and store); returns the run and a cleanup. */
  prepare(): Promise<{ run: (index: number) => Promise<void>; close: () => Promise<void> }>;
}

// ---------------------------------------------------------------------------------------------
// The floor: a hand-written loop on the bare openai SDK

const BARE_TOOLS: ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'add',
      description: 'Add two numbers',
      parameters: {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b'],
        additionalProperties: false,
      },
      strict: true,
    },
  },
];

/**
 * The bare loop; with `transport`, the same loop given switchyard's model transport as the SDK's
 * `fetch` (mode `bare+transport`), which shows how much of switchyard's ratio the transport buys.
 */
export function bareRunner(baseURL: string, transport = false): Runner {
  return {
    mode: transport ? 'bare+transport' : 'bare',
    async prepare() {
      const http = transport ? createHttpTransport() : undefined;
      const client = new OpenAI({ baseURL, apiKey: 'bench', maxRetries: 0, ...(http ? { fetch: http.fetch } : {}) });
      const run = async (): Promise<void> => {
        const messages: ChatCompletionMessageParam[] = [
          { role: 'system', content: SYSTEM },
          { role: 'user', content: TASK },
        ];
        for (let request = 1; request <= STEPS + 1; request++) {
          const completion = await client.chat.completions.create({ model: 'fake-model', messages, tools: BARE_TOOLS });
          const message = completion.choices[0]?.message;
          if (message === undefined) throw new Error('bare: a completion without a message');
          const call = message.tool_calls?.[0];
          if (call !== undefined && call.type === 'function') {
            const { a, b } = JSON.parse(call.function.arguments) as { a: number; b: number };
            messages.push(message, { role: 'tool', tool_call_id: call.id, content: String(a + b) });
            continue;
          }
          if (request !== STEPS || message.content !== ANSWER) {
            throw new Error(`bare: expected "${ANSWER}" at request ${STEPS}, got ${JSON.stringify(message.content)} at ${request}`);
          }
          return;
        }
        throw new Error(`bare: no final answer after ${STEPS + 1} requests`);
      };
      return { run, close: async () => http?.close() };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// switchyard

const add = tool({
  name: 'add',
  description: 'Add two numbers',
  input: z.object({ a: z.number(), b: z.number() }),
  idempotent: true,
  run: ({ a, b }) => a + b,
});

/** The bench agent: an idempotent `add` tool and an inline prompt (context goes as the user message). */
export const benchAgent = agent({
  name: 'bench',
  description: 'adds numbers with the add tool',
  prompt:
    'You are {{agent}}: {{description}}.\n\nCall exactly one tool per turn, one addition per step; never compute ' +
    'in your head. When the answer is known, call done_for_now with a short sentence that states it.\n\nTools:\n{{tools}}',
  tools: [add],
});

/**
 * The OpenAI model against the fake server, on a transport of its own (switchyard's, as by default)
 * closed with it, so the next measurement never reuses an idle socket the server may be closing.
 */
export function benchOpenAIModel(baseURL: string): { model: Model; close: () => Promise<void> } {
  const transport = createHttpTransport();
  return { model: createOpenAIModel({ baseURL, apiKey: 'bench', fetch: transport.fetch }), close: transport.close };
}

export function switchyardRunner(
  mode: Mode,
  model: string | (() => Model),
  newStore: () => Promise<{ store: ThreadStore; dispose: () => Promise<void> }>,
): Runner {
  return {
    mode,
    async prepare() {
      const { store, dispose } = await newStore();
      // A base URL means the real OpenAI model against the fake server.
      const openai = typeof model === 'string' ? benchOpenAIModel(model) : undefined;
      const runtime: Runtime = createRuntime({ agents: [benchAgent], store, model: openai?.model ?? (model as () => Model)() });
      const run = async (): Promise<void> => {
        const launched = await runtime.launch('bench', TASK);
        const view = await runtime.settled(launched.id);
        const results = view.events.filter((e) => e.type === 'tool_result').length;
        if (view.status !== 'done' || results !== TOOL_CALLS || view.output !== ANSWER) {
          throw new Error(
            `switchyard: thread ${view.id} ended ${view.status} with ${results} tool results and output ` +
              `${JSON.stringify(view.output)}${view.failure ? ` (${view.failure})` : ''}; expected done, ${TOOL_CALLS}, "${ANSWER}"`,
          );
        }
      };
      return {
        run,
        close: async () => {
          await runtime.close();
          await dispose();
          await openai?.close();
        },
      };
    },
  };
}

export const memoryStores = async (): Promise<{ store: ThreadStore; dispose: () => Promise<void> }> => ({
  store: createMemoryStore(),
  dispose: async () => {},
});

const FILE_STORE = join(ROOT, 'src', 'store', 'fileStore.ts');

/** The file store, if it exists yet: a fresh temporary directory per measurement. */
export async function fileStores(): Promise<(() => Promise<{ store: ThreadStore; dispose: () => Promise<void> }>) | string> {
  if (!existsSync(FILE_STORE)) return 'src/store/fileStore.ts does not exist yet';
  const mod = (await import(new URL('../src/store/fileStore.js', import.meta.url).href)) as {
    createFileStore?: (options: { dir: string; fsync?: boolean }) => Promise<ThreadStore>;
  };
  const create = mod.createFileStore;
  if (typeof create !== 'function') return 'src/store/fileStore.ts does not export createFileStore yet';
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
    // fsync on (the store's default), spelled out: the durable configuration is the one measured.
    const store = await create({ dir, fsync: true });
    return { store, dispose: () => rm(dir, { recursive: true, force: true }) };
  };
}

// ---------------------------------------------------------------------------------------------
// The bench

interface Row {
  readonly mode: Mode;
  readonly round: number;
  readonly measurement: Measurement;
}

export async function measureRunner(runner: Runner, plan: Plan, server: FakeServerProcess): Promise<Measurement> {
  const restorePool = await useFreshConnectionPool(`${server.baseURL}/models`);
  const { run, close } = await runner.prepare();
  try {
    return await measure({
      concurrency: plan.concurrency,
      maxRuns: plan.maxRuns,
      timeBoxMs: plan.timeBoxMs,
      warmupRuns: plan.warmupRuns,
      otherCpuMs: server.cpuMs,
      run,
    });
  } finally {
    await close();
    await restorePool();
  }
}

/** KB allocated per run by the bare loop on switchyard's transport and by switchyard, at the target concurrency. */
async function allocationsPerRun(server: FakeServerProcess, runs: number): Promise<{ bareTransport: number; switchyard: number }> {
  const perRun = async (runner: Runner): Promise<number> => {
    const restorePool = await useFreshConnectionPool(`${server.baseURL}/models`);
    const { run, close } = await runner.prepare();
    try {
      await measure({ concurrency: TARGET_CONCURRENCY, maxRuns: 200, timeBoxMs: 60_000, run });
      const { bytes } = await sampleAllocations({ concurrency: TARGET_CONCURRENCY, runs, run });
      return bytes / runs / 1024;
    } finally {
      await close();
      await restorePool();
    }
  };
  return {
    bareTransport: await perRun(bareRunner(server.baseURL, true)),
    switchyard: await perRun(switchyardRunner('switchyard', server.baseURL, memoryStores)),
  };
}

/** Summary of one mode at one concurrency over its rounds (medians). */
interface Summary {
  readonly mode: Mode;
  readonly concurrency: number;
  readonly rounds: number;
  readonly runs: number;
  readonly runsPerSec: number;
  /** Median of the per-round runs/s ratios to the bare loop measured in the same round. */
  readonly ratio: number | undefined;
  /** Median of the per-round ratios of bare CPU per run to this mode's (the throughput ratio if CPU-bound). */
  readonly cpuRatio: number | undefined;
  readonly cpuMsPerRun: number;
  readonly cpuMsPerStep: number;
  readonly peakRssMb: number;
  readonly serverCpuMsPerRun: number | undefined;
}

/** Median over rounds of `of(mode's measurement, base's)` in the same round, or undefined. */
function perRound(mode: Mode, base: Mode, concurrency: number, rows: readonly Row[], of: (mine: Measurement, theirs: Measurement) => number): number | undefined {
  const ratios = rows.flatMap((r) => {
    if (r.mode !== mode || r.measurement.concurrency !== concurrency) return [];
    const b = rows.find((x) => x.mode === base && x.round === r.round && x.measurement.concurrency === concurrency);
    return b ? [of(r.measurement, b.measurement)] : [];
  });
  return ratios.length > 0 ? median(ratios) : undefined;
}

/** Median over rounds of `mode`'s runs/s over `base`'s in the same round, or undefined. */
const ratioOf = (mode: Mode, base: Mode, concurrency: number, rows: readonly Row[]): number | undefined =>
  perRound(mode, base, concurrency, rows, (mine, theirs) => mine.runsPerSec / theirs.runsPerSec);

/** Median over rounds of `base`'s CPU per run over `mode`'s in the same round, or undefined. */
const cpuRatioOf = (mode: Mode, base: Mode, concurrency: number, rows: readonly Row[]): number | undefined =>
  perRound(mode, base, concurrency, rows, (mine, theirs) => theirs.cpuMsPerRun / mine.cpuMsPerRun);

function summarize(mode: Mode, concurrency: number, rows: readonly Row[]): Summary {
  const mine = rows.filter((r) => r.mode === mode && r.measurement.concurrency === concurrency);
  const pairs = mine.flatMap((r) => {
    const bare = rows.find((b) => b.mode === 'bare' && b.round === r.round && b.measurement.concurrency === concurrency);
    return bare ? [{ mine: r.measurement, bare: bare.measurement }] : [];
  });
  const ratios = pairs.map((p) => p.mine.runsPerSec / p.bare.runsPerSec);
  const cpuRatios = pairs.map((p) => p.bare.cpuMsPerRun / p.mine.cpuMsPerRun);
  const server = mine.map((r) => r.measurement.otherCpuMsPerRun).filter((v): v is number => v !== undefined);
  const cpu = median(mine.map((r) => r.measurement.cpuMsPerRun));
  return {
    mode,
    concurrency,
    rounds: mine.length,
    runs: mine.reduce((sum, r) => sum + r.measurement.runs, 0),
    runsPerSec: median(mine.map((r) => r.measurement.runsPerSec)),
    ratio: mode === 'bare' ? 1 : ratios.length > 0 ? median(ratios) : undefined,
    cpuRatio: mode === 'bare' ? 1 : cpuRatios.length > 0 ? median(cpuRatios) : undefined,
    cpuMsPerRun: cpu,
    cpuMsPerStep: cpu / STEPS,
    peakRssMb: Math.max(...mine.map((r) => r.measurement.peakRssMb)),
    serverCpuMsPerRun: server.length > 0 ? median(server) : undefined,
  };
}

/** Options of {@link microAgentBench}. */
export interface MicroAgentBenchOptions {
  /** One short round per concurrency (a smoke run). @default false */
  quick?: boolean;
}

/** Runs the micro-agent benchmark, prints its tables and returns its results. */
export async function microAgentBench(options: MicroAgentBenchOptions = {}): Promise<BenchResult> {
  const plans = options.quick ? QUICK_PLANS : FULL_PLANS;
  console.log('\n## micro-agent: 4 tool calls + final answer, bare openai SDK loop vs switchyard agent\n');
  const server = await startFakeServer();
  const rows: Row[] = [];
  let fileNote: string | undefined;
  let allocations: { bareTransport: number; switchyard: number } | undefined;
  try {
    const bare = bareRunner(server.baseURL);
    const bareOnTransport = bareRunner(server.baseURL, true);
    const switchyard = switchyardRunner('switchyard', server.baseURL, memoryStores);
    for (const plan of plans) {
      for (let round = 1; round <= plan.rounds; round++) {
        // Alternate which mode goes first so drift on the machine hits both alike. At the target
        // concurrency the bare loop on switchyard's transport is measured in every round too.
        const modes = plan.concurrency === TARGET_CONCURRENCY ? [bare, bareOnTransport, switchyard] : [bare, switchyard];
        const order = round % 2 === 1 ? modes : [...modes].reverse();
        for (const runner of order) {
          const measurement = await measureRunner(runner, plan, server);
          rows.push({ mode: runner.mode, round, measurement });
          progress(runner.mode, round, measurement);
        }
      }
    }
    const files = await fileStores();
    if (typeof files === 'string') fileNote = `file store skipped: ${files}`;
    else {
      const plan = plans.find((p) => p.concurrency === TARGET_CONCURRENCY)!;
      const round = plan.rounds + 1;
      for (const runner of [bareRunner(server.baseURL), switchyardRunner('switchyard+fileStore', server.baseURL, files)]) {
        const measurement = await measureRunner(runner, plan, server);
        rows.push({ mode: runner.mode, round, measurement });
        progress(runner.mode, round, measurement);
      }
    }
    allocations = await allocationsPerRun(server, options.quick ? ALLOCATION_RUNS.quick : ALLOCATION_RUNS.full);
  } finally {
    await server.stop();
  }

  const summaries: Summary[] = [];
  for (const plan of plans) {
    for (const mode of ['bare', 'bare+transport', 'switchyard'] as const) {
      if (rows.some((r) => r.mode === mode && r.measurement.concurrency === plan.concurrency)) summaries.push(summarize(mode, plan.concurrency, rows));
    }
  }
  if (rows.some((r) => r.mode === 'switchyard+fileStore')) summaries.push(summarize('switchyard+fileStore', TARGET_CONCURRENCY, rows));

  console.log('');
  printTable(
    [
      { header: 'mode' },
      { header: 'in-flight', right: true },
      { header: 'runs', right: true },
      { header: 'runs/s', right: true },
      { header: 'ratio vs bare', right: true },
      { header: 'CPU ratio', right: true },
      { header: 'CPU ms/run', right: true },
      { header: 'CPU ms/step', right: true },
      { header: 'peak RSS MB', right: true },
      { header: 'server CPU ms/run', right: true },
    ],
    summaries.map((s) => [
      s.mode,
      String(s.concurrency),
      String(s.runs),
      fixed(s.runsPerSec, 1),
      s.ratio === undefined ? '-' : `${fixed(s.ratio, 2)}x`,
      s.cpuRatio === undefined ? '-' : `${fixed(s.cpuRatio, 2)}x`,
      fixed(s.cpuMsPerRun, 2),
      fixed(s.cpuMsPerStep, 3),
      fixed(s.peakRssMb, 0),
      fixed(s.serverCpuMsPerRun, 2),
    ]),
  );
  console.log(
    '\nruns/s and CPU ms are medians over rounds (modes alternate within a round). ratio vs bare: median of the ' +
      'per-round runs/s ratios to the bare loop of the same round. CPU ratio: bare CPU ms/run over this mode\'s, the ' +
      'throughput ratio when the client is CPU-bound (steadier on a loaded machine). CPU is the client process ' +
      '(user+system, all threads); peak RSS: highest 50 ms sample of the client process, which all modes share ' +
      '(full GC before each measurement); server CPU: the fake server child (Linux /proc, 10 ms ticks). ' +
      'bare+transport: the bare loop given switchyard\'s model transport (undici request, buffered response) as ' +
      'the SDK\'s fetch; switchyard over it is the framework\'s own overhead.',
  );
  if (fileNote) console.log(fileNote);
  const sameTransport = ratioOf('switchyard', 'bare+transport', TARGET_CONCURRENCY, rows);
  const sameTransportCpu = cpuRatioOf('switchyard', 'bare+transport', TARGET_CONCURRENCY, rows);
  const viaTransport = summaries.find((s) => s.mode === 'bare+transport');
  const samePass = sameTransport !== undefined && sameTransport >= TARGET_SAME_TRANSPORT;
  if (viaTransport?.ratio !== undefined) {
    console.log(
      `(switchyard's transport makes the bare loop ${fixed(viaTransport.ratio, 2)}x as fast as on the SDK's default fetch; ` +
        'switchyard over the bare loop on that same transport is the framework\'s own price)',
    );
  }
  console.log(
    `target: switchyard >= ${TARGET_SAME_TRANSPORT}x the bare loop on the same transport at ${TARGET_CONCURRENCY} in flight: ` +
      `${samePass ? 'PASS' : 'FAIL'} (${fixed(sameTransport, 2)}; CPU ratio ${fixed(sameTransportCpu, 2)})`,
  );
  if (allocations !== undefined) {
    console.log(
      `allocations per run at ${TARGET_CONCURRENCY} in flight: bare loop on the same transport ${fixed(allocations.bareTransport, 0)} KB, ` +
        `switchyard ${fixed(allocations.switchyard, 0)} KB (${fixed(allocations.switchyard / allocations.bareTransport, 2)}x; sampled, freed objects included)`,
    );
  }
  const target = summaries.find((s) => s.mode === 'switchyard' && s.concurrency === TARGET_CONCURRENCY);
  const ratio = target?.ratio ?? Number.NaN;
  const defaultPass = ratio >= TARGET_RATIO;
  console.log(`target: switchyard >= ${TARGET_RATIO}x the bare loop on the SDK's default fetch at ${TARGET_CONCURRENCY} in flight: ${defaultPass ? 'PASS' : 'FAIL'} (${fixed(ratio, 2)})`);
  const pass = defaultPass && samePass;

  return {
    name: 'microAgent',
    pass,
    results: {
      task: `one user message, ${TOOL_CALLS} tool calls, a final answer (${STEPS} model requests per run)`,
      target: { ratio: TARGET_RATIO, concurrency: TARGET_CONCURRENCY, measured: ratio, pass: defaultPass },
      sameTransportTarget: { ratio: TARGET_SAME_TRANSPORT, concurrency: TARGET_CONCURRENCY, measured: sameTransport, cpuRatio: sameTransportCpu, pass: samePass },
      ratioToBareOnSameTransport: sameTransport,
      ...(allocations === undefined ? {} : { allocationsKbPerRun: allocations }),
      summaries,
      measurements: rows.map((r) => ({ mode: r.mode, round: r.round, ...r.measurement })),
      ...(fileNote ? { note: fileNote } : {}),
    },
  };
}

function progress(mode: Mode, round: number, m: Measurement): void {
  console.log(
    `  ${mode.padEnd(20)} in-flight ${String(m.concurrency).padStart(2)}  round ${round}: ${String(m.runs).padStart(5)} runs  ` +
      `${fixed(m.runsPerSec, 1).padStart(7)} runs/s  ${fixed(m.cpuMsPerRun, 2).padStart(6)} CPU ms/run  ` +
      `ELU ${fixed(m.eventLoopUtilization, 2)}  server ${fixed(m.otherCpuMsPerRun, 2).padStart(5)} ms/run  peak RSS ${fixed(m.peakRssMb, 0)} MB`,
  );
}
