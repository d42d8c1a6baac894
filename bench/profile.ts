/**
 * Runs one variant of the micro-agent task alone, for a CPU profile (not part of `npm run bench`):
 *
 *   node --cpu-prof --cpu-prof-dir=bench/results/prof --import tsx bench/profile.ts [mode] [in-flight] [runs]
 *   npx tsx bench/analyzeProfile.ts bench/results/prof/<file>.cpuprofile [top] [filter]
 *
 * Modes: bare (the floor), bare+transport (the floor on switchyard's transport), switchyard, file (switchyard on the file store), instant (switchyard on
 * an in-process model: the framework alone, no HTTP), model (createOpenAIModel alone, replaying a
 * switchyard run's requests), sdk (the SDK alone with those request bodies), steps (the agent's
 * steps and the memory store in a plain loop), actor (the agent machine without the runtime),
 * instant-steps and instant-actor (those two on the in-process model).
 * Defaults: switchyard 50 1500. The runtime is not closed, so teardown stays out of the profile.
 */
import { fixed, measure, startFakeServer, useFreshConnectionPool } from './harness.js';
import { instantBenchModel } from './instantModel.js';
import { bareRunner, fileStores, memoryStores, switchyardRunner, type Runner } from './microAgent.js';
import { agentActorRunner, modelOnlyRunner, plainStepsRunner, recordRun, sdkOnlyRunner } from './variants.js';

const MODES = ['bare', 'bare+transport', 'switchyard', 'file', 'instant', 'model', 'sdk', 'steps', 'actor', 'instant-steps', 'instant-actor'];
const [mode = 'switchyard', concurrencyArg = '50', runsArg = '1500'] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const runs = Number(runsArg);
if (!MODES.includes(mode) || !(concurrency >= 1 && concurrency <= 500 && runs >= 1 && runs <= 100_000)) {
  throw new Error(`usage: bench/profile.ts [${MODES.join('|')}] [in-flight 1..500] [runs 1..100000]`);
}
const server = await startFakeServer();
try {
  let runner: Runner;
  if (mode === 'bare') runner = bareRunner(server.baseURL);
  else if (mode === 'bare+transport') runner = bareRunner(server.baseURL, true);
  else if (mode === 'instant-steps') runner = plainStepsRunner(instantBenchModel);
  else if (mode === 'instant-actor') runner = agentActorRunner(instantBenchModel);
  else if (mode === 'switchyard') runner = switchyardRunner('switchyard', server.baseURL, memoryStores);
  else if (mode === 'instant') runner = switchyardRunner('switchyard+instantModel', instantBenchModel, memoryStores);
  else if (mode === 'model') runner = modelOnlyRunner(server.baseURL, (await recordRun(server.baseURL)).requests);
  else if (mode === 'steps') runner = plainStepsRunner(server.baseURL);
  else if (mode === 'actor') runner = agentActorRunner(server.baseURL);
  else if (mode === 'sdk') runner = sdkOnlyRunner(server.baseURL, (await recordRun(server.baseURL)).requests);
  else {
    const files = await fileStores();
    if (typeof files === 'string') throw new Error(files);
    runner = switchyardRunner('switchyard+fileStore', server.baseURL, files);
  }
  await useFreshConnectionPool(`${server.baseURL}/models`);
  const { run } = await runner.prepare();
  const m = await measure({ concurrency, maxRuns: runs, timeBoxMs: 120_000, warmupRuns: Math.min(200, runs), otherCpuMs: server.cpuMs, run });
  console.log(
    `${mode} in-flight ${concurrency}: ${m.runs} runs, ${fixed(m.runsPerSec, 1)} runs/s, ${fixed(m.cpuMsPerRun, 2)} CPU ms/run, ` +
      `ELU ${fixed(m.eventLoopUtilization, 2)}, server ${fixed(m.otherCpuMsPerRun, 2)} ms/run, peak RSS ${fixed(m.peakRssMb, 0)} MB`,
  );
} finally {
  await server.stop();
}
process.exit(0);
