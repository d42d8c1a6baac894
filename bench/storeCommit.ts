/**
 * The durable default without paying fsync per event (issue 13): the micro-agent task on the file
 * store with fsync against the same task on the memory store, at 50 runs in flight, measured in
 * alternating rounds in one run. Target: the file store at 0.8x the memory store or better.
 *
 * Two models: the real `openai` model against the fake server (the micro bench's modes, the
 * target), and an in-process instant model (the framework alone, where the store's own CPU
 * shows most; informative).
 */
import { fixed, median, printTable, startFakeServer, type BenchResult, type Measurement } from './harness.js';
import { instantBenchModel } from './instantModel.js';
import { fileStores, measureRunner, memoryStores, switchyardRunner, type Plan, type Runner } from './microAgent.js';

const TARGET_RATIO = 0.8;
const CONCURRENCY = 50;

interface Pair {
  readonly memory: Measurement;
  readonly file: Measurement;
}

function summarize(pairs: readonly Pair[]): { ratio: number; memoryRps: number; fileRps: number; memoryCpu: number; fileCpu: number } {
  return {
    ratio: median(pairs.map((p) => p.file.runsPerSec / p.memory.runsPerSec)),
    memoryRps: median(pairs.map((p) => p.memory.runsPerSec)),
    fileRps: median(pairs.map((p) => p.file.runsPerSec)),
    memoryCpu: median(pairs.map((p) => p.memory.cpuMsPerRun)),
    fileCpu: median(pairs.map((p) => p.file.cpuMsPerRun)),
  };
}

/** Runs the store-commit bench, prints its table and the target line. */
export async function storeCommitBench({ quick }: { quick: boolean }): Promise<BenchResult> {
  const plan: Plan = quick
    ? { concurrency: CONCURRENCY, rounds: 1, timeBoxMs: 1_500, maxRuns: 1_000, warmupRuns: 100 }
    : { concurrency: CONCURRENCY, rounds: 5, timeBoxMs: 5_000, maxRuns: 5_000, warmupRuns: 200 };
  console.log(`\n## file store (fsync on) vs memory store: micro-agent task, ${CONCURRENCY} in flight\n`);
  const files = await fileStores();
  if (typeof files === 'string') throw new Error(files);
  const server = await startFakeServer();
  const results: Record<string, Pair[]> = { http: [], instant: [] };
  try {
    const modes: ReadonlyArray<[keyof typeof results, Runner, Runner]> = [
      ['http', switchyardRunner('switchyard', server.baseURL, memoryStores), switchyardRunner('switchyard+fileStore', server.baseURL, files)],
      ['instant', switchyardRunner('switchyard+instantModel', instantBenchModel, memoryStores), switchyardRunner('switchyard+instantModel', instantBenchModel, files)],
    ];
    for (let round = 1; round <= plan.rounds; round++) {
      for (const [name, memoryRunner, fileRunner] of modes) {
        // Alternate which store goes first, so drift on the machine hits both alike.
        const first = round % 2 === 1 ? memoryRunner : fileRunner;
        const second = first === memoryRunner ? fileRunner : memoryRunner;
        const a = await measureRunner(first, plan, server);
        const b = await measureRunner(second, plan, server);
        const pair = first === memoryRunner ? { memory: a, file: b } : { memory: b, file: a };
        results[name]!.push(pair);
        console.log(
          `  ${name.padEnd(8)} round ${round}: memory ${fixed(pair.memory.runsPerSec, 1).padStart(7)} runs/s ${fixed(pair.memory.cpuMsPerRun, 2)} CPU ms/run  ` +
            `file ${fixed(pair.file.runsPerSec, 1).padStart(7)} runs/s ${fixed(pair.file.cpuMsPerRun, 2)} CPU ms/run  ratio ${fixed(pair.file.runsPerSec / pair.memory.runsPerSec, 2)}`,
        );
      }
    }
  } finally {
    await server.stop();
  }
  const http = summarize(results.http!);
  const instant = summarize(results.instant!);
  console.log('');
  printTable(
    ['model', 'memory runs/s', 'file runs/s', 'file/memory', 'memory CPU ms/run', 'file CPU ms/run'].map((header, i) => ({ header, right: i > 0 })),
    [
      ['openai + fake server', fixed(http.memoryRps, 1), fixed(http.fileRps, 1), `${fixed(http.ratio, 2)}x`, fixed(http.memoryCpu, 2), fixed(http.fileCpu, 2)],
      ['instant (in process)', fixed(instant.memoryRps, 1), fixed(instant.fileRps, 1), `${fixed(instant.ratio, 2)}x`, fixed(instant.memoryCpu, 2), fixed(instant.fileCpu, 2)],
    ],
  );
  console.log('\nratio: median of per-round ratios (the two stores alternate within a round); the instant model is informative (no HTTP).');
  const pass = http.ratio >= TARGET_RATIO;
  console.log(`target: file store (fsync) >= ${TARGET_RATIO}x memory store at ${CONCURRENCY} in flight: ${pass ? 'PASS' : 'FAIL'} (${fixed(http.ratio, 2)})`);
  return {
    name: 'storeCommit',
    pass,
    results: { target: { ratio: TARGET_RATIO, concurrency: CONCURRENCY, measured: http.ratio, pass }, http, instant, rounds: results },
  };
}
