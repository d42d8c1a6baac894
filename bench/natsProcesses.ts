/**
 * The processes of the NATS benches besides the bench itself: worker processes (bench/natsWorker.ts)
 * started as children, and the CPU time of any process (a worker, the nats-server) read from
 * Linux's /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { NatsNodeOptions } from '../src/nats/natsNode.js';
import { ROOT } from './harness.js';

/** The subject prefix of the NATS benches. */
export const NATS_BENCH_PREFIX = 'bench';

/** /proc reports CPU times in ticks of 1/100 s on every mainstream Linux architecture. */
const MS_PER_TICK = 10;

/** User + system CPU of a process so far, in ms, or undefined when /proc cannot tell. */
export function procCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name's closing parenthesis are fixed: utime and stime are 12th and 13th.
    const [utime, stime] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 13).map(Number);
    return utime !== undefined && stime !== undefined && Number.isFinite(utime + stime) ? (utime + stime) * MS_PER_TICK : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of the nats-server listening on `port` (started by test/support's startNatsServer). */
export function natsServerPid(port: number): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args[0]?.endsWith('nats-server') && args[args.indexOf('-p') + 1] === String(port)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** The `createNatsNode` options a bench variant may set (JSON, so a worker process gets them too). */
export type BenchNodeOptions = Pick<NatsNodeOptions, 'batchWrites'>;

/** Message counters of a NATS connection (`nc.stats()`). */
export interface NatsStats {
  readonly inMsgs: number;
  readonly outMsgs: number;
  readonly inBytes: number;
  readonly outBytes: number;
}

/** A worker process of the bench. */
export interface BenchWorker {
  readonly pid: number;
  /** Its connection's counters so far. */
  stats(): Promise<NatsStats>;
  stop(): Promise<void>;
}

/** What a worker process is told (as JSON, its one argument). */
export interface BenchWorkerArgs {
  readonly natsUrl: string;
  readonly baseURL: string;
  readonly name: string;
  /** Jobs at once per agent queue. */
  readonly concurrency: number;
  /** Extra `createNatsNode` options (a variant of the bench). */
  readonly nodeOptions?: BenchNodeOptions;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./natsWorker.ts', import.meta.url));

/**
 * Starts a worker process (bench/natsWorker.ts) and resolves once it is attached to NATS. It
 * answers `stats` lines on stdin with its counters; SIGTERM closes it.
 */
export async function startBenchWorker(args: BenchWorkerArgs): Promise<BenchWorker> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT, JSON.stringify(args)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = (timeoutMs: number, what: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${args.name}: no ${what} within ${timeoutMs} ms`)), timeoutMs);
      const exited = (): void => reject(new Error(`worker ${args.name} exited before its ${what}`));
      child.once('exit', exited);
      waiting.push((line) => {
        clearTimeout(timer);
        child.off('exit', exited);
        resolve(line);
      });
    });
  try {
    const ready = JSON.parse(await nextLine(30_000, 'ready line')) as { ready?: boolean };
    if (ready.ready !== true) throw new Error(`worker ${args.name} printed ${JSON.stringify(ready)}`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    pid: child.pid!,
    async stats() {
      child.stdin!.write('stats\n');
      return JSON.parse(await nextLine(10_000, 'stats')) as NatsStats;
    },
    stop: () => stopProcess(child),
  };
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
