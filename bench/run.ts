/**
 * `npm run bench`: runs every benchmark in order, prints their tables and writes their results to
 * `bench/results/latest.json` (untracked).
 *
 * `npm run bench -- <name>...` runs only the benchmarks whose names contain one of the words;
 * `--quick` makes each one short (a smoke run, not a measurement).
 *
 * To add a benchmark: a module exporting `async (options) => BenchResult`, listed in BENCHES.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import type { BenchResult } from './harness.js';
import { microAgentBench } from './microAgent.js';
import { pausedThreadsBench } from './pausedThreads.js';
import { natsAgentBench } from './natsAgent.js';
import { storeCommitBench } from './storeCommit.js';
import { waitingThreadsBench } from './waitingThreads.js';

interface BenchOptions {
  readonly quick: boolean;
}

const BENCHES: ReadonlyArray<{ readonly name: string; readonly run: (options: BenchOptions) => Promise<BenchResult> }> = [
  { name: 'microAgent', run: (options) => microAgentBench(options) },
  { name: 'pausedThreads', run: (options) => pausedThreadsBench(options) },
  { name: 'natsAgent', run: (options) => natsAgentBench(options) },
  { name: 'storeCommit', run: (options) => storeCommitBench(options) },
  { name: 'waitingThreads', run: (options) => waitingThreadsBench(options) },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const filters = args.filter((a) => !a.startsWith('--')).map((a) => a.toLowerCase());
const selected = BENCHES.filter((b) => filters.length === 0 || filters.some((f) => b.name.toLowerCase().includes(f)));
if (selected.length === 0) {
  console.error(`no benchmark matches ${filters.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

const startedAt = new Date().toISOString();
console.log(
  `switchyard bench  node ${process.version}  ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'})  ` +
    `${Math.round(os.totalmem() / 2 ** 30)} GB  load average ${loadAverage()}${quick ? '  --quick' : ''}`,
);

const loadBefore = os.loadavg();
const results: BenchResult[] = [];
const seconds: Record<string, number> = {};
for (const bench of selected) {
  const started = performance.now();
  results.push(await bench.run({ quick }));
  seconds[bench.name] = (performance.now() - started) / 1000;
  console.log(`(${bench.name}: ${seconds[bench.name]!.toFixed(1)} s)`);
}
const totalSeconds = Object.values(seconds).reduce((a, b) => a + b, 0);
console.log(`\nbenchmarks took ${totalSeconds.toFixed(0)} s${quick ? ` (--quick aims at under 60 s: ${totalSeconds < 60 ? 'met' : 'over'})` : ''}`);
console.log(`\nload average at the end ${loadAverage()} (other processes compete for the CPUs; compare ratios, not absolutes)`);

const resultsDir = new URL('./results/', import.meta.url);
await mkdir(resultsDir, { recursive: true });
await writeFile(
  new URL('latest.json', resultsDir),
  `${JSON.stringify(
    {
      startedAt,
      finishedAt: new Date().toISOString(),
      quick,
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      loadAverage: { before: loadBefore, after: os.loadavg() },
      seconds,
      benches: Object.fromEntries(results.map((r) => [r.name, { pass: r.pass, ...(r.results as object) }])),
    },
    null,
    2,
  )}\n`,
);
console.log('\nresults written to bench/results/latest.json');

function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}
