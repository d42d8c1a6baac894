/**
 * Runs the micro-agent task over NATS once, for a CPU profile of the client and worker (not part
 * of `npm run bench`), and prints where the CPU of every process went per run:
 *
 *   node --cpu-prof --cpu-prof-dir=bench/results/prof --import tsx bench/natsProfile.ts [in-flight] [runs] [workers]
 *   npx tsx bench/analyzeProfile.ts bench/results/prof/<file>.cpuprofile [top] [filter]
 *
 * Defaults: 50 1500 0 (the worker in this process, so the profile holds both sides). With worker
 * processes, profile them with `NODE_OPTIONS=--cpu-prof`.
 */
import { fixed, startFakeServer } from './harness.js';
import { benchNats } from './nats.js';

const [concurrencyArg = '50', runsArg = '1500', workersArg = '0'] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const runs = Number(runsArg);
const workers = Number(workersArg);
if (!(concurrency >= 1 && concurrency <= 500 && runs >= 1 && runs <= 100_000 && workers >= 0 && workers <= 16)) {
  throw new Error('usage: bench/natsProfile.ts [in-flight 1..500] [runs 1..100000] [workers 0..16]');
}
const fake = await startFakeServer();
try {
  const r = await benchNats({ fake, concurrency, runs, workers, timeBoxMs: 120_000, warmupRuns: Math.min(200, runs) });
  console.log(
    `NATS in-flight ${concurrency}, ${workers === 0 ? 'worker in this process' : `${workers} worker processes`}: ${r.runs} runs, ` +
      `${fixed(r.runsPerSec, 1)} runs/s; CPU ms/run: this process ${fixed(r.cpuMsPerRun, 2)}, workers ${fixed(r.workerCpuMsPerRun, 2)}, ` +
      `nats-server ${fixed(r.natsServerCpuMsPerRun, 2)}, fake model server ${fixed(r.fakeCpuMsPerRun, 2)}; ` +
      `${fixed(r.natsMsgsPerRun, 1)} msgs and ${fixed(r.natsKbPerRun, 1)} KB per run; ELU ${fixed(r.eventLoopUtilization, 2)}; peak RSS ${fixed(r.peakRssMb, 0)} MB`,
  );
} finally {
  await fake.stop();
}
process.exit(0);
