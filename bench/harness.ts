/**
 * Shared pieces of the benchmarks (`npm run bench`): a bounded, time-boxed measurement with client
 * CPU and peak RSS, the fake OpenAI-compatible server as a child process, and table printing.
 *
 * Benchmarks are not tests: nothing here asserts on speed. Correctness checks inside a benchmark
 * throw, which aborts the run, because a fast wrong answer measures nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** The repository root (bench/ sits directly under it). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Garbage collection between measurements

let gcFn: (() => void) | undefined;

/**
 * Runs a full garbage collection so one measurement's garbage is not billed to the next one.
 * Works without `--expose-gc` (the flag is set at run time and `gc` read from a fresh context).
 */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    const existing = (globalThis as { gc?: () => void }).gc;
    if (existing) gcFn = existing;
    else {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

// ---------------------------------------------------------------------------------------------
// Peak RSS sampler

/** Samples the process's resident set size and keeps the highest value seen. */
export interface RssSampler {
  /** Highest RSS seen so far, in bytes (sampled now as well). */
  peak(): number;
  stop(): number;
}

/** Starts sampling `process.memoryUsage.rss()` every `intervalMs` (50 ms by default). */
export function sampleRss(intervalMs = 50): RssSampler {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
  }, intervalMs);
  timer.unref();
  const sampleNow = (): number => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
    return peak;
  };
  return {
    peak: sampleNow,
    stop() {
      clearInterval(timer);
      return sampleNow();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement

/** Options of {@link measure}. */
export interface MeasureOptions {
  /** Runs kept in flight at once. */
  concurrency: number;
  /** Upper bound on measured runs. */
  maxRuns: number;
  /** No run starts after this many milliseconds (runs in flight finish). */
  timeBoxMs: number;
  /** Runs done first and not measured (JIT warm-up, connection pool). @default 0 */
  warmupRuns?: number;
  /** CPU ms of another process (the fake server), read before and after; optional. */
  otherCpuMs?: () => number | undefined;
  /** One run; `index` counts from 0 over warm-up and measured runs alike. Throwing aborts the bench. */
  run: (index: number) => Promise<void>;
}

/** What one measurement saw. */
export interface Measurement {
  readonly concurrency: number;
  readonly runs: number;
  readonly wallMs: number;
  readonly runsPerSec: number;
  /** User + system CPU of this process over the measurement, per run. */
  readonly cpuMsPerRun: number;
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  /** Highest RSS sampled during the measurement. */
  readonly peakRssMb: number;
  /** RSS right before the measurement (after a full GC). */
  readonly baseRssMb: number;
  /** CPU of the other process (the fake server) per run, when known. */
  readonly otherCpuMsPerRun: number | undefined;
  /** Event-loop utilization of this process, 0..1 (near 1: the main thread is the bottleneck). */
  readonly eventLoopUtilization: number;
  /** Milliseconds the main thread spent in garbage collection pauses, per run (minor and major). */
  readonly gcMsPerRun: number;
}

/** Sums the durations of garbage collection pauses until stopped. */
function watchGc(): { stop(): number } {
  let total = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) total += entry.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      // Entries are delivered asynchronously; take what is buffered before disconnecting.
      for (const entry of observer.takeRecords()) total += entry.duration;
      observer.disconnect();
      return total;
    },
  };
}

/** Runs `run` with `concurrency` workers until `maxRuns` or `timeBoxMs`, and measures it. */
export async function measure(options: MeasureOptions): Promise<Measurement> {
  const { concurrency, maxRuns, timeBoxMs, warmupRuns = 0, run } = options;
  let index = 0;
  if (warmupRuns > 0) {
    await pool(concurrency, () => index < warmupRuns, () => run(index++));
  }
  collectGarbage();
  const baseRss = process.memoryUsage.rss();
  const rss = sampleRss();
  const gc = watchGc();
  const otherBefore = options.otherCpuMs?.();
  const cpuBefore = process.cpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  const started = performance.now();
  const deadline = started + timeBoxMs;
  let measured = 0;
  await pool(
    concurrency,
    () => measured < maxRuns && performance.now() < deadline,
    async () => {
      measured++;
      await run(index++);
    },
  );
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const elu = performance.eventLoopUtilization(eluBefore);
  const otherAfter = options.otherCpuMs?.();
  const peak = rss.stop();
  const gcMs = gc.stop();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    concurrency,
    runs: measured,
    wallMs,
    runsPerSec: (measured * 1000) / wallMs,
    cpuMsPerRun: cpuMs / measured,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    peakRssMb: peak / 2 ** 20,
    baseRssMb: baseRss / 2 ** 20,
    otherCpuMsPerRun:
      otherBefore !== undefined && otherAfter !== undefined ? (otherAfter - otherBefore) / measured : undefined,
    eventLoopUtilization: elu.utilization,
    gcMsPerRun: gcMs / measured,
  };
}

/** `concurrency` workers, each starting a new task while `more()` says so. Rejects on the first failure. */
async function pool(concurrency: number, more: () => boolean, task: () => Promise<void>): Promise<void> {
  let failure: unknown;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && more()) {
      try {
        await task();
      } catch (error) {
        if (!failed) {
          failed = true;
          failure = error;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failed) throw failure;
}

/** The `p`th percentile of some numbers (nearest rank, no interpolation; NaN when there are none). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// The fake OpenAI-compatible server, in its own process

/** A fake server child process. */
export interface FakeServerProcess {
  readonly baseURL: string;
  readonly pid: number;
  /** The child's user + system CPU so far in ms (Linux /proc), or undefined where unavailable. */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

const FAKE_SERVER_SCRIPT = fileURLToPath(new URL('../test/support/fakeOpenAIServerMain.ts', import.meta.url));
/** Linux reports /proc CPU times in clock ticks of 1/100 s on every mainstream architecture. */
const CLOCK_TICKS_PER_SEC = 100;

/**
 * Starts `test/support/fakeOpenAIServerMain.ts` (the stateless bench task server) as a child
 * process, so its CPU is not counted as the client's, and waits for its base URL.
 */
export async function startFakeServer(): Promise<FakeServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', FAKE_SERVER_SCRIPT], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const baseURL = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error('the fake server did not print its base URL within 30 s')), 30_000);
    const onExit = (code: number | null): void => fail(new Error(`the fake server exited with ${code} before starting`));
    function fail(error: Error): void {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.kill('SIGKILL');
      reject(error);
    }
    child.once('exit', onExit);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const end = out.indexOf('\n');
      if (end === -1) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      try {
        resolve((JSON.parse(out.slice(0, end)) as { baseURL: string }).baseURL);
      } catch (error) {
        fail(new Error(`the fake server printed ${JSON.stringify(out.slice(0, end))}`, { cause: error }));
      }
    });
  });
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(baseURL)) {
    child.kill('SIGKILL');
    throw new Error(`the fake server must listen on 127.0.0.1, got ${baseURL}`);
  }
  return {
    baseURL,
    pid: child.pid!,
    cpuMs: () => processCpuMs(child.pid!),
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** utime + stime of a process from /proc/<pid>/stat, in ms. */
function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SEC : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP connection pools

const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

interface Dispatcher {
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * Gives the global `fetch` (which the `openai` SDK uses) a new connection pool until the returned
 * function is called, which closes it and puts the previous pool back.
 *
 * Each measurement then starts with no idle keep-alive sockets left by the one before. Without
 * this, a socket left idle by one measurement can be reused by the next right as the server's
 * keep-alive timeout (5 s) closes it, failing a request with `UND_ERR_SOCKET` (the SDK runs with
 * `maxRetries: 0`), which is most likely on a loaded machine whose timers fire late. The client
 * keep-alive is kept short (2 s) for the same reason. Without Node's bundled undici dispatcher
 * (another runtime) it does nothing.
 */
export async function useFreshConnectionPool(probeURL: string): Promise<() => Promise<void>> {
  const slot = globalThis as unknown as Record<symbol, Dispatcher | undefined>;
  if (slot[GLOBAL_DISPATCHER] === undefined) {
    // The global dispatcher is created by the first fetch.
    await fetch(probeURL).then((r) => r.arrayBuffer(), () => undefined);
  }
  const previous = slot[GLOBAL_DISPATCHER];
  if (previous === undefined) return async () => {};
  const Agent = previous.constructor as new (options: Record<string, unknown>) => Dispatcher;
  const fresh = new Agent({ keepAliveTimeout: 2_000, keepAliveMaxTimeout: 2_000 });
  slot[GLOBAL_DISPATCHER] = fresh;
  return async () => {
    slot[GLOBAL_DISPATCHER] = previous;
    await fresh.close().catch(() => fresh.destroy());
  };
}

// ---------------------------------------------------------------------------------------------
// Allocations

/** A node of V8's sampling heap profile: bytes allocated by one function under one call path. */
export interface SamplingNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children?: readonly SamplingNode[];
}

/**
 * Bytes allocated while `runs` runs go through `run` (`concurrency` in flight), by V8's sampling heap
 * profiler with objects the collectors already freed counted too: garbage is what a run costs the
 * collector. Sampled every 4 KB, so a total is exact to a few KB. Warm the runner up first.
 */
export async function sampleAllocations(options: {
  concurrency: number;
  runs: number;
  run: (index: number) => Promise<void>;
  /** Leave out what the young-generation collector freed: what is left outlived a scavenge (promoted). @default false */
  promotedOnly?: boolean;
}): Promise<{ bytes: number; head: SamplingNode }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: options.promotedOnly !== true,
    } as { samplingInterval: number });
    await measure({ concurrency: options.concurrency, maxRuns: options.runs, timeBoxMs: 600_000, run: options.run });
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: SamplingNode } };
    let bytes = 0;
    const walk = (node: SamplingNode): void => {
      bytes += node.selfSize;
      for (const child of node.children ?? []) walk(child);
    };
    walk(profile.head);
    return { bytes, head: profile.head };
  } finally {
    session.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// Output

/** A column of {@link printTable}: its header and whether it is right-aligned (numbers). */
export interface Column {
  readonly header: string;
  readonly right?: boolean;
}

/** Prints rows of cells under headers, columns padded to their widest cell. */
export function printTable(columns: readonly Column[], rows: readonly (readonly string[])[]): void {
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (columns[i]?.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(columns.map((c) => c.header)));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(row));
}

/** A number with a fixed count of decimals, or '-' when unknown. */
export function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

/** What a benchmark hands back to `bench/run.ts`: a name and JSON-serializable results. */
export interface BenchResult {
  readonly name: string;
  /** Whether its target was met; undefined for benches without a target. */
  readonly pass?: boolean;
  readonly results: unknown;
}
