/**
 * A million threads waiting on humans (issue 13, "Scale of waiting threads").
 *
 * Builds threads awaiting a human (copies of a real one: launched, asked, left waiting) in a file
 * store (1,000,000) and in a NATS KV store (100,000), then measures in a fresh process
 * (bench/waitingThreadsProbe.ts): start-up (opening the store), pages of 100 threads awaiting a
 * human of one agent (`after` cursors), resumes (a respond: one store read and one durable append;
 * the thread is then let finish before the next), and RSS growth over all of it. Nine in ten
 * threads belong to the agent listed, so pages also filter.
 *
 * `--quick`: 5,000 and 3,000 threads, fewer pages and resumes, no cold reads (a smoke run, not a measurement).
 * `--store=kv` or `--store=file` (or `SWITCHYARD_BENCH_STORE=kv`): only that store (building the
 * million-thread file store takes minutes).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { createNatsKvStore } from '../src/nats/kvStore.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { createFileStore } from '../src/store/fileStore.js';
import { createMemoryStore } from '../src/store/memoryStore.js';
import type { ThreadStore } from '../src/store/threadStore.js';
import type { Thread, ThreadEvent } from '../src/thread/events.js';
import { startNatsServer } from '../test/support/natsServer.js';
import { fixed, percentile, printTable, ROOT, type BenchResult } from './harness.js';
import { asker, askingModel, idOf, type ProbeOptions, type ProbeResult } from './waitingThreadsProbe.js';

const TARGETS = { pageMs: 50, resumeP99Ms: 10, rssGrowthMb: 200, startupMs: 5_000 };
const ID_PREFIX = 'wt-';

interface Plan {
  readonly fileThreads: number;
  readonly kvThreads: number;
  readonly pages: number;
  readonly resumes: number;
  /** KV: also time reads of cold blocks alone (waits out the server's 5 s block cache first). */
  readonly coldReads: boolean;
}

const FULL: Plan = { fileThreads: 1_000_000, kvThreads: 100_000, pages: 200, resumes: 300, coldReads: true };
const QUICK: Plan = { fileThreads: 5_000, kvThreads: 3_000, pages: 20, resumes: 50, coldReads: false };

/** The stores to measure: `--store=<kind>` (or `--store <kind>`), else `SWITCHYARD_BENCH_STORE`, else both. */
function storesWanted(): { file: boolean; kv: boolean } {
  const args = process.argv;
  const at = args.findIndex((a) => a === '--store' || a.startsWith('--store='));
  const raw = at === -1 ? process.env.SWITCHYARD_BENCH_STORE : args[at]!.includes('=') ? args[at]!.slice('--store='.length) : args[at + 1];
  const wanted = (raw ?? 'file,kv').toLowerCase().split(',');
  if (!wanted.every((w) => w === 'file' || w === 'kv')) throw new Error(`--store takes file, kv or both (file,kv), not ${raw}`);
  return { file: wanted.includes('file'), kv: wanted.includes('kv') };
}

/** A thread as the runtime leaves it waiting on a human: its events, to copy. */
async function template(): Promise<{ events: readonly ThreadEvent[]; requestId: string }> {
  const runtime = createRuntime({ agents: [asker], store: createMemoryStore(), model: askingModel });
  const { id } = await runtime.launch('asker', 'monthly report');
  const view = await runtime.settled(id);
  await runtime.close();
  if (view.status !== 'awaiting_human' || !view.pendingRequest) throw new Error(`the template thread is ${view.status}`);
  return { events: view.events, requestId: view.pendingRequest.requestId };
}

/** Creates `count` copies of the template, ids `idOf(n)`, times a millisecond apart. */
async function build(store: ThreadStore, count: number, events: readonly ThreadEvent[], inFlight: number): Promise<number> {
  const started = performance.now();
  const base = Date.UTC(2025, 0, 1);
  let next = 0;
  let lastReport = started;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      const at = new Date(base + n).toISOString();
      const thread: Thread = { id: idOf(ID_PREFIX, n), agent: n % 10 === 0 ? 'other' : 'asker', events: events.map((e) => ({ ...e, at })) };
      await store.create(thread);
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        console.log(`  built ${n.toLocaleString('en')} of ${count.toLocaleString('en')} threads (${fixed((n * 1000) / (lastReport - started), 0)}/s)`);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return (performance.now() - started) / 1000;
}

async function runProbe(options: ProbeOptions): Promise<ProbeResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'waitingThreadsProbe.ts'), JSON.stringify(options)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || line === undefined) throw new Error(`the ${options.kind} probe exited with ${code}: ${out.slice(-2000)}`);
  return JSON.parse(line) as ProbeResult;
}

interface Row {
  readonly store: string;
  readonly threads: number;
  readonly buildSeconds: number;
  readonly result: ProbeResult;
}

function checks(row: Row): Array<{ what: string; value: number; target: number; unit: string }> {
  return [
    { what: 'list page p99', value: percentile(row.result.pageMs, 99), target: TARGETS.pageMs, unit: 'ms' },
    { what: 'resume p99', value: percentile(row.result.resumeMs, 99), target: TARGETS.resumeP99Ms, unit: 'ms' },
    { what: 'RSS growth', value: row.result.rssGrowthMb, target: TARGETS.rssGrowthMb, unit: 'MB' },
    { what: 'start-up', value: row.result.startupMs, target: TARGETS.startupMs, unit: 'ms' },
  ];
}

/** Builds the file store's threads (without fsync: the build is not what is measured) and probes them. */
async function fileRow(plan: Plan, events: readonly ThreadEvent[], requestId: string): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-waiting-'));
  try {
    const builder = await createFileStore({ dir, fsync: false, cacheSize: 0, checkpointBytes: 256 << 20 });
    const buildSeconds = await build(builder, plan.fileThreads, events, 256);
    await builder.close();
    const result = await runProbe({ kind: 'file', dir, threads: plan.fileThreads, idPrefix: ID_PREFIX, requestId, pages: plan.pages, pageSize: 100, resumes: plan.resumes });
    return { store: 'file', threads: plan.fileThreads, buildSeconds, result };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Builds the KV store's threads on a fresh nats-server and probes them. */
async function kvRow(plan: Plan, events: readonly ThreadEvent[], requestId: string): Promise<Row> {
  const server = await startNatsServer();
  try {
    const nc = await connect({ servers: server.url });
    const builder = await createNatsKvStore({ nc, bucket: 'waiting' });
    const buildSeconds = await build(builder, plan.kvThreads, events, 256);
    await builder.close();
    await nc.close();
    const result = await runProbe({ kind: 'kv', natsUrl: server.url, bucket: 'waiting', threads: plan.kvThreads, idPrefix: ID_PREFIX, requestId, pages: plan.pages, pageSize: 100, resumes: plan.resumes, coldReads: plan.coldReads });
    return { store: 'nats kv', threads: plan.kvThreads, buildSeconds, result };
  } finally {
    await server.stop();
  }
}

/** The resumes over the target and how much of them was the probe's garbage collector. */
function slowResumes(result: ProbeResult): string {
  const slow = result.resumeMs.map((ms, i) => ({ ms, gc: result.resumeGcMs[i] ?? 0, read: result.resumeReadMs[i] ?? 0 })).filter((r) => r.ms > TARGETS.resumeP99Ms);
  if (slow.length === 0) return `no resume over ${TARGETS.resumeP99Ms} ms`;
  const list = slow.map((r) => `${fixed(r.ms, 1)} (GC ${fixed(r.gc, 1)}, read ${fixed(r.read, 1)})`).join(', ');
  return `${slow.length} of ${result.resumeMs.length} resumes over ${TARGETS.resumeP99Ms} ms, in ms with the GC pauses and the store read inside each: ${list}`;
}

/** Runs the waiting-threads bench, prints its table and a target line per figure. */
export async function waitingThreadsBench({ quick }: { quick: boolean }): Promise<BenchResult> {
  const plan = quick ? QUICK : FULL;
  const stores = storesWanted();
  const { events, requestId } = await template();
  const rows: Row[] = [];
  console.log(`\n## threads awaiting a human: ${plan.fileThreads.toLocaleString('en')} in a file store, ${plan.kvThreads.toLocaleString('en')} in a NATS KV store\n`);

  if (stores.file) rows.push(await fileRow(plan, events, requestId));
  if (stores.kv) rows.push(await kvRow(plan, events, requestId));

  printTable(
    ['store', 'threads', 'build s', 'start-up ms', 'page p50 ms', 'page p99 ms', 'resume p50 ms', 'resume p99 ms', 'floor p50 ms', 'floor p99 ms', 'RSS growth MB', 'heap growth MB'].map((header, i) => ({ header, right: i > 0 })),
    rows.map((r) => [
      r.store,
      r.threads.toLocaleString('en'),
      fixed(r.buildSeconds, 1),
      fixed(r.result.startupMs, 0),
      fixed(percentile(r.result.pageMs, 50), 2),
      fixed(percentile(r.result.pageMs, 99), 2),
      fixed(percentile(r.result.resumeMs, 50), 2),
      fixed(percentile(r.result.resumeMs, 99), 2),
      fixed(percentile(r.result.floorMs, 50), 2),
      fixed(percentile(r.result.floorMs, 99), 2),
      fixed(r.result.rssGrowthMb, 1),
      fixed(r.result.heapGrowthMb, 1),
    ]),
  );
  console.log(
    `\npages: ${plan.pages} pages of 100 threads awaiting a human of one agent (9 in 10 threads), walked with after cursors from the start; ` +
      `resume: runtime.respond (one store read, one durable append), the thread then let finish before the next; RSS and heap growth ` +
      `of the probe process from before opening the store to after the resumes (full GC). The file store is opened with fsync on. ` +
      `floor: one durable write alone, measured by the probe right after the resumes (file: a line appended and fdatasync'ed; ` +
      `KV: one put acknowledged by the same nats-server), the least a durable respond can take on this machine.`,
  );
  let pass = true;
  const results: Record<string, unknown> = {};
  for (const row of rows) {
    const figures = checks(row);
    for (const { what, value, target, unit } of figures) {
      const ok = value < target;
      pass &&= ok;
      console.log(`target: ${row.store} store, ${row.threads.toLocaleString('en')} threads: ${what} < ${target} ${unit}: ${ok ? 'PASS' : 'FAIL'} (${fixed(value, 1)} ${unit})`);
    }
    const floor = percentile(row.result.floorMs, 99);
    console.log(`  ${row.store} store: resume p99 ${fixed(percentile(row.result.resumeMs, 99), 1)} ms against its floor's p99 ${fixed(floor, 1)} ms (${fixed(percentile(row.result.resumeMs, 99) / floor, 2)}x the floor)`);
    if (row.result.readFloorMs !== undefined) {
      const reads = row.result.readFloorMs;
      console.log(
        `  ${row.store} store: one read of a random thread alone, blocks cold as the resumes found them: p50 ${fixed(percentile(reads, 50), 2)} ms, ` +
          `p99 ${fixed(percentile(reads, 99), 2)} ms, ${reads.filter((ms) => ms > TARGETS.resumeP99Ms).length} of ${reads.length} over ${TARGETS.resumeP99Ms} ms ` +
          `(resume p99 against read p99 + put p99: ${fixed(percentile(row.result.resumeMs, 99) / (percentile(reads, 99) + floor), 2)}x)`,
      );
    }
    if (row.result.resumeReadMs.length > 0) {
      console.log(`  ${row.store} store: the store read inside the resumes: p50 ${fixed(percentile(row.result.resumeReadMs, 50), 2)} ms, p99 ${fixed(percentile(row.result.resumeReadMs, 99), 2)} ms`);
    }
    console.log(`  ${row.store} store: ${slowResumes(row.result)}`);
    results[row.store] = { threads: row.threads, buildSeconds: row.buildSeconds, ...row.result, floorP99Ms: floor, targets: Object.fromEntries(figures.map((f) => [f.what, { value: f.value, target: f.target, pass: f.value < f.target }])) };
  }
  return { name: 'waitingThreads', pass, results };
}
