import { Session } from 'node:inspector/promises';
import { measure, startFakeServer, useFreshConnectionPool } from '../harness.js';
import { bareRunner, memoryStores, switchyardRunner } from '../microAgent.js';
const mode = process.argv[2] ?? 'switchyard';
const server = await startFakeServer();
const runner = mode === 'bare' ? bareRunner(server.baseURL, true) : switchyardRunner('switchyard', server.baseURL, memoryStores);
await useFreshConnectionPool(`${server.baseURL}/models`);
const { run } = await runner.prepare();
await measure({ concurrency: 50, maxRuns: 500, timeBoxMs: 60_000, warmupRuns: 200, run });
const session = new Session(); session.connect();
await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as any);
const runs = 2000;
await measure({ concurrency: 50, maxRuns: runs, timeBoxMs: 60_000, warmupRuns: 0, run });
const { profile } = (await session.post('HeapProfiler.stopSampling')) as any;
const self = new Map<string, number>();
let total = 0;
const walk = (n: any) => {
  const f = n.callFrame; const url = String(f.url).replace(/.*\/work\/main\//, '').replace(/.*node_modules\//, '');
  const k = `${f.functionName || '(anon)'} ${url}:${f.lineNumber + 1}`;
  self.set(k, (self.get(k) ?? 0) + n.selfSize); total += n.selfSize;
  for (const c of n.children ?? []) walk(c);
};
walk(profile.head);
console.log(`${mode}: ${(total / runs / 1024).toFixed(1)} KB allocated per run (sampled)`);
const groups = new Map<string, number>();
for (const [k, v] of self) { const g = k.split(' ')[1]!.split('/')[0]!.split(':')[0]!; groups.set(g, (groups.get(g) ?? 0) + v); }
console.log([...groups].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${(v / runs / 1024).toFixed(1).padStart(7)} KB/run  ${k}`).join('\n'));
console.log([...self].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k, v]) => `${(v / runs / 1024).toFixed(2).padStart(7)} KB/run  ${k}`).join('\n'));
await server.stop(); process.exit(0);
