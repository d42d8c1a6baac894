/**
 * Bytes allocated per run of the micro-agent task, by package and by function (not part of
 * `npm run bench`): V8's sampling heap profiler, counting objects already collected too.
 *
 *   npx tsx bench/allocations.ts [switchyard|bare|instant] [--promoted]
 *
 * `--promoted` leaves out what the young-generation collector freed: what remains outlived a
 * scavenge and was promoted (or is still live), the garbage the old generation's collector pays for.
 * `bare` is the bare loop on switchyard's model transport; `instant` is switchyard on an in-process
 * model (the framework's own allocations, without HTTP). Garbage is what the young-generation
 * collector pays for at 50 runs in flight, so this is where to look when GC time grows.
 */
import { fixed, measure, printTable, ROOT, sampleAllocations, startFakeServer, useFreshConnectionPool, type SamplingNode } from './harness.js';
import { instantBenchModel } from './instantModel.js';
import { bareRunner, memoryStores, switchyardRunner } from './microAgent.js';

const mode = process.argv[2] ?? 'switchyard';
const promotedOnly = process.argv.includes('--promoted');
if (mode !== 'switchyard' && mode !== 'bare' && mode !== 'instant') throw new Error('usage: bench/allocations.ts [switchyard|bare|instant]');

const RUNS = 2_000;
const server = await startFakeServer();
try {
  const runner =
    mode === 'bare'
      ? bareRunner(server.baseURL, true)
      : mode === 'instant'
        ? switchyardRunner('switchyard+instantModel', instantBenchModel, memoryStores)
        : switchyardRunner('switchyard', server.baseURL, memoryStores);
  await useFreshConnectionPool(`${server.baseURL}/models`);
  const { run } = await runner.prepare();
  // Warm up (JIT, connection pool) before sampling.
  await measure({ concurrency: 50, maxRuns: 500, timeBoxMs: 60_000, warmupRuns: 200, run });
  const profile = await sampleAllocations({ concurrency: 50, runs: RUNS, run, promotedOnly });

  const byFunction = new Map<string, number>();
  const byGroup = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const inPackage = url.lastIndexOf('node_modules/');
    const file = inPackage !== -1 ? url.slice(inPackage + 'node_modules/'.length) : url.startsWith(`file://${ROOT}`) ? url.slice(`file://${ROOT}`.length) : url;
    const parts = file.split('/');
    const group = url === '' ? '(native)' : url.startsWith('node:') ? 'node' : parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
    const key = `${functionName || '(anonymous)'} ${file || '(native)'}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
    byGroup.set(group, (byGroup.get(group) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children ?? []) walk(child);
  };
  walk(profile.head);
  const rows = (map: Map<string, number>, n: number): string[][] =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([key, bytes]) => [fixed(bytes / RUNS / 1024, 1), key]);
  console.log(
    `${mode}: ${fixed(total / RUNS / 1024, 1)} KB ${promotedOnly ? 'promoted (outlived a scavenge)' : 'allocated'} per run (sampled every 4 KB, ${promotedOnly ? 'what minor GCs freed left out' : 'collected objects included'})\n`,
  );
  printTable([{ header: 'KB/run', right: true }, { header: 'package or folder' }], rows(byGroup, 12));
  console.log('');
  printTable([{ header: 'KB/run', right: true }, { header: 'function' }], rows(byFunction, 40));
} finally {
  await server.stop();
}
process.exit(0);
