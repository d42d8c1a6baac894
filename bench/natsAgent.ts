/**
 * The micro-agent task over NATS, against the in-process runtime measured in the same run
 * (`npm run bench -- natsAgent`):
 *
 * - **Ratio**: a plain client publishes triggers and awaits results; a worker in the same process
 *   runs them with every event persisted in the KV bucket. Reported per round as a ratio to the
 *   in-process runtime (memory store, same task, same fake server) measured in that round, the
 *   two alternating; target at least 0.8x at 50 in flight. The bare openai loop is measured in
 *   each round too, for the ratio the README used to give. At 50 in flight each round also
 *   measures the embedded default (the in-process runtime on the file store, fsync on), so the
 *   ratio of one durable setup to the other is printed beside the target's (informative only).
 * - **Workers**: 1, 2 and 4 worker processes (bench/natsWorker.ts) on the one nats-server, the
 *   client in this process, with where each process's CPU goes, so the curve's flattening can be
 *   read off the cores it keeps busy.
 */
import { bareRunner, fileStores, memoryStores, measureRunner, switchyardRunner, type Plan } from './microAgent.js';
import { benchNats, type NatsBenchResult } from './nats.js';
import { fixed, median, printTable, startFakeServer, type BenchResult, type FakeServerProcess, type Measurement } from './harness.js';

const TARGET_RATIO = 0.8;
const TARGET_CONCURRENCY = 50;

interface NatsPlans {
  /** In-process vs NATS (worker in this process) at each concurrency. */
  readonly ratio: readonly { readonly concurrency: number; readonly rounds: number; readonly runs: number; readonly warmupRuns: number }[];
  /**
   * The worker-process curve at TARGET_CONCURRENCY. `warmupRuns` is per worker process: each is a
   * fresh process with its own JIT, and the queue spreads the warm-up runs over all of them.
   */
  readonly curve: { readonly workers: readonly number[]; readonly rounds: number; readonly runs: number; readonly warmupRuns: number };
}

const FULL: NatsPlans = {
  ratio: [
    { concurrency: 1, rounds: 2, runs: 150, warmupRuns: 20 },
    // The steady state of long-running processes, as microAgent measures it: with 200 warm-up runs
    // the NATS side (nats.js, the KV store, the job queue) was still being optimized by V8.
    { concurrency: TARGET_CONCURRENCY, rounds: 3, runs: 1500, warmupRuns: 2_000 },
  ],
  curve: { workers: [1, 2, 4], rounds: 2, runs: 1500, warmupRuns: 2_000 },
};
const QUICK: NatsPlans = {
  ratio: [{ concurrency: TARGET_CONCURRENCY, rounds: 1, runs: 200, warmupRuns: 60 }],
  // A smoke run of the curve: one and two worker processes (the full run adds four).
  curve: { workers: [1, 2], rounds: 1, runs: 120, warmupRuns: 30 },
};

/** One round's in-process and NATS measurements at one concurrency. */
interface RatioRound {
  readonly concurrency: number;
  readonly bare: Measurement;
  readonly inProcess: Measurement;
  /** The embedded default (file store, fsync on), measured at TARGET_CONCURRENCY only. */
  readonly embedded?: Measurement;
  readonly nats: NatsBenchResult;
}

/** One round of the worker curve: the in-process runtime and each worker count. */
interface CurveRound {
  readonly inProcess: Measurement;
  readonly nats: readonly NatsBenchResult[];
}

function processPlan(concurrency: number, runs: number, warmupRuns: number): Plan {
  return { concurrency, rounds: 1, timeBoxMs: 30_000, maxRuns: runs, warmupRuns };
}

/** Total CPU per run over every process of a NATS measurement. */
function totalCpu(n: NatsBenchResult): number {
  return n.cpuMsPerRun + n.workerCpuMsPerRun + (n.natsServerCpuMsPerRun ?? 0) + (n.fakeCpuMsPerRun ?? 0);
}

function natsLine(label: string, n: NatsBenchResult): void {
  console.log(
    `  ${label.padEnd(24)} ${fixed(n.runsPerSec, 1).padStart(7)} runs/s  CPU ms/run: this ${fixed(n.cpuMsPerRun, 2)}, workers ${fixed(n.workerCpuMsPerRun, 2)}, ` +
      `nats-server ${fixed(n.natsServerCpuMsPerRun, 2)}, model server ${fixed(n.fakeCpuMsPerRun, 2)}; ${fixed(n.natsMsgsPerRun, 1)} msgs/run`,
  );
}

function processLine(label: string, m: Measurement): void {
  console.log(`  ${label.padEnd(24)} ${fixed(m.runsPerSec, 1).padStart(7)} runs/s  CPU ms/run: this ${fixed(m.cpuMsPerRun, 2)}, model server ${fixed(m.otherCpuMsPerRun, 2)}`);
}

async function ratioRounds(fake: FakeServerProcess, plans: NatsPlans): Promise<RatioRound[]> {
  const rounds: RatioRound[] = [];
  const inProcess = switchyardRunner('switchyard', fake.baseURL, memoryStores);
  const files = await fileStores();
  if (typeof files === 'string') throw new Error(files);
  const embedded = switchyardRunner('switchyard+fileStore', fake.baseURL, files);
  const bare = bareRunner(fake.baseURL);
  for (const plan of plans.ratio) {
    const p = processPlan(plan.concurrency, plan.runs, plan.warmupRuns);
    for (let round = 1; round <= plan.rounds; round++) {
      // Alternate which goes first, so drift on the machine hits both alike.
      const natsFirst = round % 2 === 0;
      const nats = natsFirst ? await benchNats({ fake, concurrency: plan.concurrency, runs: plan.runs, warmupRuns: plan.warmupRuns, timeBoxMs: 30_000 }) : undefined;
      const local = await measureRunner(inProcess, p, fake);
      const b = await measureRunner(bare, p, fake);
      const n = nats ?? (await benchNats({ fake, concurrency: plan.concurrency, runs: plan.runs, warmupRuns: plan.warmupRuns, timeBoxMs: 30_000 }));
      // Last in the round: its fsyncs and the removal of its thread files must not overlap the others.
      const onFiles = plan.concurrency === TARGET_CONCURRENCY ? await measureRunner(embedded, p, fake) : undefined;
      console.log(`in flight ${plan.concurrency}, round ${round}:`);
      processLine('in-process runtime', local);
      if (onFiles) processLine('in-process, file store', onFiles);
      processLine('bare openai loop', b);
      natsLine('NATS, worker in-process', n);
      rounds.push({ concurrency: plan.concurrency, bare: b, inProcess: local, ...(onFiles ? { embedded: onFiles } : {}), nats: n });
    }
  }
  return rounds;
}

async function curveRounds(fake: FakeServerProcess, plans: NatsPlans): Promise<CurveRound[]> {
  const { workers, rounds: count, runs, warmupRuns } = plans.curve;
  const inProcess = switchyardRunner('switchyard', fake.baseURL, memoryStores);
  const rounds: CurveRound[] = [];
  for (let round = 1; round <= count; round++) {
    const order = round % 2 === 1 ? workers : [...workers].reverse();
    console.log(`worker processes, in flight ${TARGET_CONCURRENCY}, round ${round}:`);
    const local = await measureRunner(inProcess, processPlan(TARGET_CONCURRENCY, runs, warmupRuns), fake);
    processLine('in-process runtime', local);
    const nats: NatsBenchResult[] = [];
    for (const w of order) {
      const n = await benchNats({ fake, concurrency: TARGET_CONCURRENCY, runs, warmupRuns: warmupRuns * w, workers: w, timeBoxMs: 30_000 });
      natsLine(`NATS, ${w} worker process${w === 1 ? '' : 'es'}`, n);
      nats.push(n);
    }
    rounds.push({ inProcess: local, nats: [...nats].sort((a, b) => a.workers - b.workers) });
  }
  return rounds;
}

function printRatios(rounds: readonly RatioRound[]): { concurrency: number; ratio: number; ratioToBare: number; ratioToEmbedded?: number }[] {
  const concurrencies = [...new Set(rounds.map((r) => r.concurrency))];
  const rows: string[][] = [];
  const summaries = concurrencies.map((concurrency) => {
    const mine = rounds.filter((r) => r.concurrency === concurrency);
    const m = (f: (r: RatioRound) => number): number => median(mine.map(f));
    const summary = {
      concurrency,
      inProcessRunsPerSec: m((r) => r.inProcess.runsPerSec),
      natsRunsPerSec: m((r) => r.nats.runsPerSec),
      ratio: m((r) => r.nats.runsPerSec / r.inProcess.runsPerSec),
      ratioToBare: m((r) => r.nats.runsPerSec / r.bare.runsPerSec),
      ...(mine.every((r) => r.embedded) ? { ratioToEmbedded: m((r) => r.nats.runsPerSec / r.embedded!.runsPerSec) } : {}),
      inProcessCpuMsPerRun: m((r) => r.inProcess.cpuMsPerRun),
      natsCpuMsPerRun: m((r) => r.nats.cpuMsPerRun),
      natsServerCpuMsPerRun: m((r) => r.nats.natsServerCpuMsPerRun ?? Number.NaN),
      natsMsgsPerRun: m((r) => r.nats.natsMsgsPerRun),
      natsKbPerRun: m((r) => r.nats.natsKbPerRun),
      peakRssMb: Math.max(...mine.map((r) => r.nats.peakRssMb)),
      rounds: mine.map((r) => r.nats.runsPerSec / r.inProcess.runsPerSec),
    };
    rows.push([
      String(concurrency),
      fixed(summary.inProcessRunsPerSec, 1),
      fixed(summary.natsRunsPerSec, 1),
      `${fixed(summary.ratio, 2)}x`,
      summary.rounds.map((r) => fixed(r, 2)).join(' '),
      `${fixed(summary.ratioToBare, 2)}x`,
      summary.ratioToEmbedded === undefined ? '-' : `${fixed(summary.ratioToEmbedded, 2)}x`,
      fixed(summary.inProcessCpuMsPerRun, 2),
      fixed(summary.natsCpuMsPerRun, 2),
      fixed(summary.natsServerCpuMsPerRun, 2),
      fixed(summary.natsMsgsPerRun, 1),
      fixed(summary.natsKbPerRun, 1),
      fixed(summary.peakRssMb, 0),
    ]);
    return summary;
  });
  console.log('\n## micro-agent over NATS vs the in-process runtime: trigger to result, every event persisted in KV (worker and client in one process)\n');
  printTable(
    [
      'in-flight',
      'in-process runs/s',
      'NATS runs/s',
      'ratio',
      'per round',
      'vs bare',
      'vs file store',
      'in-process CPU ms/run',
      'NATS CPU ms/run',
      'nats-server CPU ms/run',
      'msgs/run',
      'KB/run',
      'peak RSS MB',
    ].map((header, i) => ({ header, right: i !== 4 })),
    rows,
  );
  return summaries;
}

function printCurve(rounds: readonly CurveRound[]): { workers: number; runsPerSec: number; ratio: number; coresBusy: number }[] {
  const counts = rounds[0]?.nats.map((n) => n.workers) ?? [];
  const rows: string[][] = [];
  const summaries = counts.map((workers) => {
    const mine = rounds.map((r) => ({ inProcess: r.inProcess, n: r.nats.find((n) => n.workers === workers)! }));
    const m = (f: (x: (typeof mine)[number]) => number): number => median(mine.map(f));
    const summary = {
      workers,
      runsPerSec: m((x) => x.n.runsPerSec),
      ratio: m((x) => x.n.runsPerSec / x.inProcess.runsPerSec),
      clientCpuMsPerRun: m((x) => x.n.cpuMsPerRun),
      workerCpuMsPerRun: m((x) => x.n.workerCpuMsPerRun),
      natsServerCpuMsPerRun: m((x) => x.n.natsServerCpuMsPerRun ?? Number.NaN),
      fakeCpuMsPerRun: m((x) => x.n.fakeCpuMsPerRun ?? Number.NaN),
      totalCpuMsPerRun: m((x) => totalCpu(x.n)),
      // CPU seconds per second over every process of the run: 2 means both cores of this machine.
      coresBusy: m((x) => (totalCpu(x.n) * x.n.runsPerSec) / 1000),
    };
    rows.push([
      String(workers),
      fixed(summary.runsPerSec, 1),
      `${fixed(summary.ratio, 2)}x`,
      fixed(summary.clientCpuMsPerRun, 2),
      fixed(summary.workerCpuMsPerRun, 2),
      fixed(summary.natsServerCpuMsPerRun, 2),
      fixed(summary.fakeCpuMsPerRun, 2),
      fixed(summary.totalCpuMsPerRun, 2),
      fixed(summary.coresBusy, 2),
    ]);
    return summary;
  });
  console.log(`\n## worker processes on one nats-server, ${TARGET_CONCURRENCY} in flight (client in this process)\n`);
  printTable(
    ['workers', 'runs/s', 'vs in-process', 'client CPU ms/run', 'workers CPU ms/run', 'nats-server CPU ms/run', 'model server CPU ms/run', 'total CPU ms/run', 'cores busy'].map(
      (header) => ({ header, right: true }),
    ),
    rows,
  );
  return summaries;
}

export async function natsAgentBench({ quick }: { quick: boolean }): Promise<BenchResult> {
  const plans = quick ? QUICK : FULL;
  const fake = await startFakeServer();
  try {
    console.log('\n## micro-agent over NATS\n');
    const ratio = printRatios(await ratioRounds(fake, plans));
    const curve = printCurve(await curveRounds(fake, plans));
    const at = ratio.find((s) => s.concurrency === TARGET_CONCURRENCY)!;
    const pass = at.ratio >= TARGET_RATIO;
    console.log(
      `\ntarget: switchyard over NATS >= ${TARGET_RATIO}x the in-process runtime at ${TARGET_CONCURRENCY} in flight: ${pass ? 'PASS' : 'FAIL'} (${fixed(at.ratio, 2)})`,
    );
    console.log(
      'ratio: median over rounds of NATS runs/s over the in-process runtime\'s in the same round (memory store, same task and model server). ' +
        'CPU from /proc (user+system, 10 ms ticks); cores busy: CPU ms per run over every process (client, workers, nats-server, model server) ' +
        'times runs/s; at 2 this machine is full and more workers cannot help. ' +
        `Each measurement follows warm-up runs (${plans.ratio.map((r) => `${r.warmupRuns} at ${r.concurrency} in flight`).join(', ')}; ` +
        `${plans.curve.warmupRuns} per worker process for the curve). Other processes share these cores: compare ratios, not absolutes. ` +
        `vs file store: NATS runs/s over the embedded default's (the in-process runtime on the file store, fsync on) in the same round, ` +
        `one durable setup against the other; informative, the target is against the memory store.`,
    );
    return { name: 'natsAgent', pass, results: { target: { ratio: TARGET_RATIO, concurrency: TARGET_CONCURRENCY, measured: at.ratio, pass }, ratio, curve } };
  } finally {
    await fake.stop();
  }
}
