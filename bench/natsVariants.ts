/**
 * Compares variants of the NATS worker in one run, alternating them round by round so drift on a
 * shared machine hits each alike (not part of `npm run bench`):
 *
 *   npx tsx bench/natsVariants.ts [--rounds=4] [--runs=1500] [--workers=0] [--in-flight=50] <variant>...
 *
 * A variant is `in-process` (the in-process runtime on the memory store) or a JSON object of
 * `createNatsNode` options (`{}` for the defaults, `{"batchWrites":false}`). Prints each round and
 * the median over rounds of each variant's runs/s and CPU per run relative to the first variant.
 */
import { fixed, median, printTable, startFakeServer } from './harness.js';
import { memoryStores, measureRunner, switchyardRunner } from './microAgent.js';
import { benchNats } from './nats.js';
import type { BenchNodeOptions } from './natsProcesses.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const rounds = flag('rounds', 4);
const runs = flag('runs', 1500);
const workers = flag('workers', 0);
const concurrency = flag('in-flight', 50);
const variants = args.filter((a) => !a.startsWith('--'));
if (variants.length === 0) throw new Error('usage: bench/natsVariants.ts [--rounds=4] [--runs=1500] [--workers=0] [--in-flight=50] <in-process | {options}>...');

interface Sample {
  readonly runsPerSec: number;
  /** CPU per run of every process but the model server. */
  readonly cpuMsPerRun: number;
  readonly natsServerCpuMsPerRun: number;
  readonly msgsPerRun: number;
}

const fake = await startFakeServer();
const samples = new Map<string, Sample[]>(variants.map((v) => [v, []]));
try {
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? variants : [...variants].reverse();
    for (const variant of order) {
      let sample: Sample;
      if (variant === 'in-process') {
        const plan = { concurrency, rounds: 1, timeBoxMs: 60_000, maxRuns: runs, warmupRuns: Math.min(200, runs) };
        const m = await measureRunner(switchyardRunner('switchyard', fake.baseURL, memoryStores), plan, fake);
        sample = { runsPerSec: m.runsPerSec, cpuMsPerRun: m.cpuMsPerRun, natsServerCpuMsPerRun: 0, msgsPerRun: 0 };
      } else {
        const nodeOptions = JSON.parse(variant) as BenchNodeOptions;
        const n = await benchNats({ fake, concurrency, runs, workers, nodeOptions, timeBoxMs: 60_000, warmupRuns: Math.min(200, runs) });
        sample = {
          runsPerSec: n.runsPerSec,
          cpuMsPerRun: n.cpuMsPerRun + n.workerCpuMsPerRun,
          natsServerCpuMsPerRun: n.natsServerCpuMsPerRun ?? Number.NaN,
          msgsPerRun: n.natsMsgsPerRun,
        };
      }
      samples.get(variant)!.push(sample);
      console.log(
        `round ${round} ${variant.padEnd(30)} ${fixed(sample.runsPerSec, 1).padStart(7)} runs/s  node CPU ${fixed(sample.cpuMsPerRun, 2)} ms/run  ` +
          `nats-server ${fixed(sample.natsServerCpuMsPerRun, 2)} ms/run  ${fixed(sample.msgsPerRun, 1)} msgs/run`,
      );
    }
  }
} finally {
  await fake.stop();
}

const base = samples.get(variants[0]!)!;
printTable(
  ['variant', 'runs/s', 'runs/s ratio', 'per round', 'node CPU ms/run', 'CPU ratio', 'nats-server CPU ms/run', 'msgs/run'].map((header, i) => ({ header, right: i !== 0 && i !== 3 })),
  variants.map((variant) => {
    const mine = samples.get(variant)!;
    const ratios = mine.map((s, i) => s.runsPerSec / base[i]!.runsPerSec);
    const cpuRatios = mine.map((s, i) => base[i]!.cpuMsPerRun / s.cpuMsPerRun);
    return [
      variant,
      fixed(median(mine.map((s) => s.runsPerSec)), 1),
      `${fixed(median(ratios), 2)}x`,
      ratios.map((r) => fixed(r, 2)).join(' '),
      fixed(median(mine.map((s) => s.cpuMsPerRun)), 2),
      `${fixed(median(cpuRatios), 2)}x`,
      fixed(median(mine.map((s) => s.natsServerCpuMsPerRun)), 2),
      fixed(median(mine.map((s) => s.msgsPerRun)), 1),
    ];
  }),
);
console.log('ratios: median over rounds of each round\'s figure over the first variant\'s; CPU ratio: first variant\'s CPU over this one\'s (above 1: cheaper).');
process.exit(0);
