/**
 * Paused threads hold no memory, and resuming one costs one store read (issue: durable threads).
 *
 * 10,000 threads of an agent that asks a human are launched on the file store (the embedded
 * default) and left waiting; the process's RSS growth is measured after a full GC (target: under
 * 50 MB). Then threads picked at random are answered one at a time and the latency from respond()
 * to the thread resting again (done) is measured: p50 and p99, with the store reads per resume.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agent } from '../src/agent/agent.js';
import type { Model, ModelResult } from '../src/model/model.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { createFileStore } from '../src/store/fileStore.js';
import type { ThreadStore } from '../src/store/threadStore.js';
import { collectGarbage, fixed, percentile, printTable, type BenchResult } from './harness.js';

const call = (name: string, args: object): ModelResult => ({
  success: true,
  data: { toolCall: { name, arguments: JSON.stringify(args) }, usage: { prompt: 50, completion: 10 }, model: 'instant' },
});

/** An in-process model: asks a human first, finishes once answered. */
const instantModel: Model = {
  name: 'instant',
  async complete({ context }) {
    return context.includes('<human_response')
      ? call('done_for_now', { message: 'thanks' })
      : call('request_human_input', { question: 'Which region should the report cover?', format: 'free_text' });
  },
};

/** A full GC, then a short idle so V8 and the allocator can hand freed pages back before RSS is read. */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  collectGarbage();
  return process.memoryUsage();
}

export async function pausedThreadsBench({ quick }: { quick: boolean }): Promise<BenchResult> {
  const threads = quick ? 1000 : 10_000;
  const resumes = quick ? 100 : 500;
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-paused-'));
  try {
    const fileStore = await createFileStore({ dir, fsync: true });
    let gets = 0;
    const store: ThreadStore = { ...fileStore, get: (id) => (gets++, fileStore.get(id)) };
    const asker = agent({ name: 'asker', description: 'asks a human', prompt: 'You are {{agent}}.\n{{tools}}', tools: [] });
    const runtime = createRuntime({ agents: [asker], store, model: instantModel });

    const ids: string[] = [];
    const park = async (count: number, offset: number): Promise<void> => {
      for (let i = 0; i < count; i += 100) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
            const { id } = await runtime.launch('asker', `monthly report #${offset + i + j}`);
            const view = await runtime.settled(id);
            if (view.status !== 'awaiting_human') throw new Error(`thread ${id} is ${view.status}`);
            return id;
          }),
        );
        ids.push(...batch);
      }
    };
    // Warm-up: JIT, the store's caches and the allocator reach their steady state before the baseline.
    const warmup = quick ? 200 : 1000;
    await park(warmup, 0);
    const before = await settledMemory();
    const started = performance.now();
    await park(threads, warmup);
    const launchSeconds = (performance.now() - started) / 1000;
    if (runtime.activeCount() !== 0) throw new Error(`${runtime.activeCount()} actors still in memory`);
    const after = await settledMemory();
    const growthMb = (after.rss - before.rss) / 2 ** 20;
    const heapGrowthMb = (after.heapUsed - before.heapUsed) / 2 ** 20;
    const heapTotalGrowthMb = (after.heapTotal - before.heapTotal) / 2 ** 20;
    const externalGrowthMb = (after.external - before.external) / 2 ** 20;
    console.log(`memory after launching: rss +${fixed(growthMb, 1)} MB, heapUsed +${fixed(heapGrowthMb, 1)} MB, heapTotal +${fixed(heapTotalGrowthMb, 1)} MB, external +${fixed(externalGrowthMb, 1)} MB`);

    // Resume threads picked at random (mostly not in the store's cache), one at a time.
    const latencies: number[] = [];
    const readsPerResume: number[] = [];
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const picked = new Set<string>();
    while (picked.size < resumes) picked.add(ids[Math.floor(random() * ids.length)]!);
    for (const id of picked) {
      const view = await runtime.get(id);
      const requestId = view!.pendingRequest!.requestId;
      // Wait on a listener (no store reads of its own), so the count is the resume's alone.
      let unsubscribe = () => {};
      const finished = new Promise<string>((resolve) => {
        unsubscribe = runtime.subscribe((change) => {
          if (change.thread.id === id && change.events.some((e) => e.type === 'final' || e.type === 'failed')) resolve(change.status);
        });
      });
      gets = 0;
      const t0 = performance.now();
      await runtime.respond(id, { requestId, answer: 'EMEA' });
      const status = await finished;
      latencies.push(performance.now() - t0);
      readsPerResume.push(gets);
      unsubscribe();
      if (status !== 'done') throw new Error(`resumed thread ${id} ended ${status}`);
    }
    latencies.sort((a, b) => a - b);
    readsPerResume.sort((a, b) => a - b);
    await runtime.close();

    const result = {
      threads,
      warmupThreads: warmup,
      launchSeconds,
      rssGrowthMb: growthMb,
      heapGrowthMb,
      heapTotalGrowthMb,
      externalGrowthMb,
      rssGrowthKbPerThread: (growthMb * 1024) / threads,
      target: { rssGrowthMb: 50, pass: growthMb < 50 },
      resume: {
        count: resumes,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        maxMs: latencies.at(-1),
        storeReadsMedian: percentile(readsPerResume, 50),
      },
    };
    console.log('');
    console.log(`## ${threads.toLocaleString('en')} threads awaiting a human (file store, fsync on; after ${warmup} warm-up threads), then ${resumes} resumes`);
    console.log('');
    printTable(
      [
        { header: 'threads', right: true },
        { header: 'launch s', right: true },
        { header: 'RSS growth MB', right: true },
        { header: 'heap growth MB', right: true },
        { header: 'KB/thread', right: true },
        { header: 'resume p50 ms', right: true },
        { header: 'resume p99 ms', right: true },
        { header: 'store reads/resume', right: true },
      ],
      [[String(threads), fixed(launchSeconds, 1), fixed(growthMb, 1), fixed(heapGrowthMb, 1), fixed(result.rssGrowthKbPerThread, 2), fixed(result.resume.p50Ms, 2), fixed(result.resume.p99Ms, 2), String(result.resume.storeReadsMedian)]],
    );
    console.log(`target: RSS growth under 50 MB with ${threads} threads waiting: ${result.target.pass ? 'PASS' : 'FAIL'} (${fixed(growthMb, 1)} MB)`);
    return { name: 'pausedThreads', pass: result.target.pass, results: result };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
