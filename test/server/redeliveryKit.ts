/**
 * What the at-least-once tests of webhooks and callbacks share: temporary directories and
 * receivers closed after each test, and a `switchyard serve` killed while its receiver refuses,
 * then started again on the same directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { ThreadView } from '../../src/runtime/runtime.js';
import { ROOT, startCli } from '../cli/cliProcess.js';
import { call } from './harness.js';
import { startReceiver, type Received, type Receiver } from './receiver.js';

export interface RedeliveryKit {
  /** Runs after the test (the last pushed first). */
  readonly cleanups: (() => Promise<void>)[];
  tempDir(): string;
  receiver(statuses: number | number[]): Promise<Receiver>;
  /** A stop that runs `steps` in order once (again: nothing), also after the test. */
  stopOnce(...steps: (() => unknown)[]): () => Promise<void>;
}

/** Registers the cleanup of what each test of the file starts; `prefix` names its directories. */
export function useRedeliveryKit(prefix: string): RedeliveryKit {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });
  return {
    cleanups,
    tempDir() {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
    async receiver(statuses) {
      const started = await startReceiver(statuses);
      cleanups.push(started.close);
      return started;
    },
    stopOnce(...steps) {
      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        for (const step of steps) await step();
      };
      cleanups.push(stop);
      return stop;
    },
  };
}

/** What {@link serveKilledWhileRefused} saw. */
export interface KilledWhileRefused {
  readonly threadId: string;
  /** The delivery the receiver refused before the kill, and the one it took after the restart. */
  readonly refused: Received;
  readonly delivered: Received;
  /** The restarted serve's exit code once stopped, and what the receiver got from it in all. */
  readonly stopCode: number | null;
  readonly sentAfterRestart: number;
}

/**
 * A `serve` launches a calculator thread while the receiver answers 503; it is killed (SIGKILL)
 * after that refusal, the receiver comes back, and a `serve` is started again on the same
 * directory and stopped once it delivered.
 */
export async function serveKilledWhileRefused(
  kit: RedeliveryKit,
  setup: { env: (receiverUrl: string) => Record<string, string>; launch: (receiverUrl: string) => Record<string, unknown> },
): Promise<KilledWhileRefused> {
  const statuses = [503];
  const origin = await kit.receiver(statuses);
  const env = setup.env(origin.url);
  const args = ['serve', '--port', '0', '--dir', join(kit.tempDir(), 'data'), '--no-demo'];
  const killed = startCli(args, { cwd: ROOT, env });
  kit.cleanups.push(async () => void (await killed.stop()));
  const [, url] = await killed.waitFor(/listening on (http:\/\/\S+)/);
  const launched = await call<ThreadView>(url!, 'POST', '/threads', { agent: 'calculator', input: 'multiply 2 by 3', ...setup.launch(origin.url) });
  if (launched.status !== 201) throw new Error(`launch answered ${launched.status}`);
  const [refused] = await origin.waitFor(1);
  killed.signal('SIGKILL');
  await killed.exited();
  const before = origin.received.length;
  statuses[0] = 200; // the receiver is back

  const restarted = startCli(args, { cwd: ROOT, env });
  kit.cleanups.push(async () => void (await restarted.stop()));
  await restarted.waitFor(/listening on/);
  const [delivered] = (await origin.waitFor(before + 1)).slice(before);
  // Stopped (its deliveries in flight finish first).
  const stopCode = await restarted.stop();
  return { threadId: launched.body.id, refused: refused!, delivered: delivered!, stopCode, sentAfterRestart: origin.received.length - before };
}
