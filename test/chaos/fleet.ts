/** The chaos run's worker processes: started, SIGKILLed and started again, every wait bounded. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { within } from '../bus/waiting.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'chaosWorker.ts');
const READY_MS = 60_000;
const STDERR_KEEP = 8_000;

/** Worker processes of one run. */
export interface Fleet {
  /**
   * SIGKILLs the worker in slot `index` (a crash: no drain, no goodbye) and starts a new one there;
   * resolves once it is killed, with the new worker's start (resolves once it takes jobs).
   */
  killAndReplace(index: number): Promise<{ replaced: Promise<void> }>;
  /** Workers SIGKILLed so far. */
  readonly kills: number;
  /** The last lines each worker wrote to stderr (its warnings), for a failure's message. */
  stderr(): string;
  /** Kills every worker. */
  stop(): Promise<void>;
}

/** Starts `size` workers with `env` and resolves once each takes jobs. */
export async function startFleet(size: number, env: Record<string, string>): Promise<Fleet> {
  const slots: ChildProcess[] = [];
  const logs: string[] = [];
  let kills = 0;

  async function start(index: number): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_KEEP);
      logs[index] = `worker ${child.pid}:\n${stderr}`;
    });
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('"ready"')) resolve();
      });
      child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal}) before it was ready: ${stderr}`)));
    });
    slots[index] = child;
    await within(ready, READY_MS, `worker ${child.pid} to take jobs`);
    return child;
  }

  async function kill(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await within(exited, 10_000, `worker ${child.pid} to exit on ${signal}`);
  }

  await Promise.all(Array.from({ length: size }, (_, i) => start(i)));
  return {
    async killAndReplace(index) {
      await kill(slots[index], 'SIGKILL');
      kills++;
      return { replaced: start(index).then(() => undefined) };
    },
    get kills() {
      return kills;
    },
    stderr: () => logs.filter(Boolean).join('\n'),
    async stop() {
      await Promise.all(slots.map((child) => kill(child, 'SIGKILL')));
    },
  };
}
