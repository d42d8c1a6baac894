/**
 * The measuring half of bench/waitingThreads.ts, run in a fresh process so start-up and memory are
 * this process's own: opens a store that holds many threads awaiting a human, walks pages of them,
 * resumes some, and prints one JSON line with what it measured.
 *
 *   node --import tsx bench/waitingThreadsProbe.ts '<json options>'
 */
import { closeSync, fdatasyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { agent } from '../src/agent/agent.js';
import type { Model, ModelResult } from '../src/model/model.js';
import { createNatsKvStore } from '../src/nats/kvStore.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { createFileStore } from '../src/store/fileStore.js';
import type { ThreadStore } from '../src/store/threadStore.js';
import { collectGarbage } from './harness.js';

/** What the probe is told (by bench/waitingThreads.ts). */
export interface ProbeOptions {
  readonly kind: 'file' | 'kv';
  /** File store directory. */
  readonly dir?: string;
  /** NATS server and bucket of the KV store. */
  readonly natsUrl?: string;
  readonly bucket?: string;
  readonly threads: number;
  /** Thread ids are `idOf(n)` for n below `threads`; those with n % 10 !== 0 belong to `asker`. */
  readonly idPrefix: string;
  readonly requestId: string;
  readonly pages: number;
  readonly pageSize: number;
  readonly resumes: number;
  /** KV: time reads of cold blocks alone after the resumes (see {@link ProbeResult.readFloorMs}). @default false */
  readonly coldReads?: boolean;
}

/** What the probe prints. */
export interface ProbeResult {
  readonly startupMs: number;
  readonly pageMs: readonly number[];
  readonly resumeMs: readonly number[];
  /** Of each resume, the time its store read took (`store.get`, the first thing a respond does). */
  readonly resumeReadMs: readonly number[];
  /**
   * Of each resume, the garbage collector's pauses of this process that fell inside it (ms, from
   * `PerformanceObserver` 'gc' entries): a slow resume with as much GC in it is the collector's.
   */
  readonly resumeGcMs: readonly number[];
  readonly rssGrowthMb: number;
  readonly heapGrowthMb: number;
  readonly listed: number;
  /**
   * The floor under a resume, measured in the same process right after: one durable write alone
   * (file: append a line to a file beside the threads and fdatasync it; KV: one put in a scratch
   * bucket of the same server), one at a time.
   */
  readonly floorMs: readonly number[];
  /**
   * KV only: the read under a resume, alone: a `kv.get` of a thread picked at random, one at a
   * time, after the server's block caches went cold (as the resumes found them), the first
   * {@link RESUME_WARMUP} left out as for the resumes. On nats-server 2.9 the first read of a
   * block not read for 5 s loads the whole 4 MB block and its per-subject index.
   */
  readonly readFloorMs?: readonly number[];
}

export function idOf(prefix: string, n: number): string {
  return `${prefix}${n.toString(36).padStart(5, '0')}`;
}

const call = (name: string, args: object): ModelResult => ({
  success: true,
  data: { toolCall: { name, arguments: JSON.stringify(args) }, usage: { prompt: 50, completion: 10 }, model: 'instant' },
});

/** Asks a human first, finishes once answered (as bench/pausedThreads.ts). */
export const askingModel: Model = {
  name: 'instant',
  async complete({ context }) {
    return context.includes('<human_response')
      ? call('done_for_now', { message: 'thanks' })
      : call('request_human_input', { question: 'Which region should the report cover?', format: 'free_text' });
  },
};

export const asker = agent({ name: 'asker', description: 'asks a human', prompt: 'You are {{agent}}.\n{{tools}}', tools: [] });

/** Resumes before the measured ones (JIT warm-up). */
const RESUME_WARMUP = 20;

async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  collectGarbage();
  return process.memoryUsage();
}

async function probe(options: ProbeOptions): Promise<ProbeResult> {
  let nc: NatsConnection | undefined;
  let background: NatsConnection | undefined;
  if (options.kind === 'kv') {
    // Connected as createNatsNode connects: no async stack traces, and the store's background
    // work (index, summaries, listings) on a second connection.
    nc = await connect({ servers: options.natsUrl!, noAsyncTraces: true });
    background = await connect({ servers: options.natsUrl!, noAsyncTraces: true });
  }
  const before = await settledMemory();
  const started = performance.now();
  const store: ThreadStore =
    options.kind === 'file' ? await createFileStore({ dir: options.dir!, fsync: true }) : await createNatsKvStore({ nc: nc!, bucket: options.bucket!, ...(background === undefined ? {} : { background }) });
  const startupMs = performance.now() - started;

  // Pages of the threads awaiting a human, one agent's, from the start.
  const pageMs: number[] = [];
  let after = '';
  let listed = 0;
  for (let i = 0; i < options.pages; i++) {
    const t0 = performance.now();
    const page = await store.list({ status: 'awaiting_human', agent: 'asker', after, limit: options.pageSize });
    pageMs.push(performance.now() - t0);
    if (page.length !== options.pageSize) throw new Error(`page ${i} has ${page.length} threads, expected ${options.pageSize}`);
    for (const s of page) if (s.status !== 'awaiting_human' || s.agent !== 'asker') throw new Error(`page ${i} lists ${s.id} (${s.agent}, ${s.status})`);
    listed += page.length;
    after = page.at(-1)!.cursor!;
  }

  // Resumes: a respond (one store read, one durable append) on threads picked at random.
  // The store read of each resume, timed apart (the respond's first store call).
  let lastReadMs = 0;
  const timed: ThreadStore = {
    ...store,
    async get(id) {
      const t0 = performance.now();
      try {
        return await store.get(id);
      } finally {
        lastReadMs = performance.now() - t0;
      }
    },
  };
  const runtime = createRuntime({ agents: [asker], store: timed, model: askingModel });
  const resumeReadMs: number[] = [];
  const resumeMs: number[] = [];
  const resumeGcMs: number[] = [];
  const gcPauses = gcPausesDuring();
  let seed = 42;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const picked = new Set<number>();
  while (picked.size < options.resumes + RESUME_WARMUP) {
    const n = Math.floor(random() * options.threads);
    if (n % 10 !== 0) picked.add(n);
  }
  let resumed = 0;
  for (const n of picked) {
    const id = idOf(options.idPrefix, n);
    const t0 = performance.now();
    await runtime.respond(id, { requestId: options.requestId, answer: 'EMEA' });
    // The first few warm the code up (JIT): not counted.
    if (resumed++ >= RESUME_WARMUP) {
      const t1 = performance.now();
      resumeMs.push(t1 - t0);
      resumeReadMs.push(lastReadMs);
      resumeGcMs.push(await gcPauses.within(t0, t1));
    }
    const view = await runtime.settled(id);
    if (view.status !== 'done') throw new Error(`resumed thread ${id} ended ${view.status}`);
  }
  gcPauses.stop();
  await runtime.close();
  const after_ = await settledMemory();
  await store.close();
  const floorMs = options.kind === 'file' ? flushFloor(options.dir!, options.resumes) : await putFloor(nc!, options.resumes);
  const readFloorMs = options.kind === 'kv' && options.coldReads === true ? await readFloor(nc!, options) : undefined;
  await nc?.close();
  await background?.close();
  return {
    floorMs,
    ...(readFloorMs === undefined ? {} : { readFloorMs }),
    startupMs,
    pageMs,
    resumeMs,
    resumeReadMs,
    resumeGcMs,
    rssGrowthMb: (after_.rss - before.rss) / 2 ** 20,
    heapGrowthMb: (after_.heapUsed - before.heapUsed) / 2 ** 20,
    listed,
  };
}

/**
 * Watches this process's GC pauses; `within(t0, t1)` sums the parts of them inside [t0, t1]
 * (performance.now() times). GC entries are delivered after the fact, so it lets one turn pass.
 */
function gcPausesDuring(): { within(t0: number, t1: number): Promise<number>; stop(): void } {
  const pauses: Array<{ start: number; end: number }> = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push({ start: entry.startTime, end: entry.startTime + entry.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    async within(t0, t1) {
      await new Promise((resolve) => setImmediate(resolve));
      let ms = 0;
      for (const { start, end } of pauses) ms += Math.max(0, Math.min(end, t1) - Math.max(start, t0));
      while (pauses.length > 0 && pauses[0]!.end < t1) pauses.shift();
      return ms;
    },
    stop: () => observer.disconnect(),
  };
}

/** Appends of a line like an event's, each flushed (fdatasync) before the next. */
function flushFloor(dir: string, count: number): number[] {
  const file = join(dir, '.floor');
  const fd = openSync(file, 'a');
  const line = Buffer.from(`${JSON.stringify({ v: 1, events: [{ seq: 1, at: new Date().toISOString(), type: 'human_response', data: { requestId: 'x', answer: 'EMEA' } }] })}\n`);
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      writeSync(fd, line);
      fdatasyncSync(fd);
      times.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    unlinkSync(file);
  }
  return times;
}

/** Puts of a thread-sized value in a scratch bucket, each acknowledged before the next. */
async function putFloor(nc: NatsConnection, count: number): Promise<number[]> {
  const kvm = new Kvm(nc);
  const kv = await kvm.create('waiting_floor');
  const value = JSON.stringify({ agent: 'asker', events: Array.from({ length: 4 }, (_, i) => ({ seq: i + 1, at: new Date().toISOString(), type: 'input', data: { input: 'monthly report' } })) });
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await kv.put(`k${i}`, value);
    times.push(performance.now() - t0);
  }
  await kv.destroy();
  return times;
}

/** How long nats-server 2.9 keeps a block it read in memory (its cache expiry, 5 s), and a margin. */
const BLOCK_CACHE_MS = 6_000;

/** Reads of threads picked at random, each alone, once the server's block caches are cold. */
async function readFloor(nc: NatsConnection, options: ProbeOptions): Promise<number[]> {
  await new Promise((resolve) => setTimeout(resolve, BLOCK_CACHE_MS));
  const kv = await new Kvm(nc).open(options.bucket!);
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const times: number[] = [];
  for (let i = 0; i < options.resumes + RESUME_WARMUP; i++) {
    const key = idOf(options.idPrefix, Math.floor(random() * options.threads));
    const t0 = performance.now();
    await kv.get(key);
    if (i >= RESUME_WARMUP) times.push(performance.now() - t0);
  }
  return times;
}

if (process.argv[1]?.endsWith('waitingThreadsProbe.ts')) {
  const result = await probe(JSON.parse(process.argv[2]!) as ProbeOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
