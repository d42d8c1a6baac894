/**
 * A long-running command (`serve`, `worker`) run in this process through `runCli`, with only the
 * environment a test gives it: resolves once it has started, or with its exit code and output when
 * it ends first.
 */
import { runCli } from '../../src/cli/program.js';
import { deferred, within } from '../bus/waiting.js';
import { ROOT } from './cliProcess.js';

/** A command started in this process. */
export interface InProcessCommand {
  /** What it printed on stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Tells it to stop (SIGTERM) and resolves with its exit code. */
  stop(): Promise<number>;
}

/** What a command that ended before it started printed. */
export interface EndedCommand {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `switchyard <args>` with `env` (in `cwd`) until it prints "press Ctrl+C to stop" (started) or exits (ended). */
export async function runInProcess(args: readonly string[], env: Record<string, string>, cwd = ROOT): Promise<{ started: InProcessCommand } | { ended: EndedCommand }> {
  let stdout = '';
  let stderr = '';
  const started = deferred<void>();
  const stopped = deferred<string>();
  const exited = runCli(['node', 'switchyard', ...args], {
    stdout: (text) => {
      stdout += text;
      if (stdout.includes('press Ctrl+C to stop')) started.resolve();
    },
    stderr: (text) => void (stderr += text),
    env: { SWITCHYARD_LOG_LEVEL: 'warn', ...env },
    cwd,
    stopped: () => stopped.promise,
  });
  const outcome = await within(
    Promise.race([started.promise.then(() => 'started' as const), exited.then((code) => ({ code }))]),
    30_000,
    `switchyard ${args.join(' ')} to start or exit`,
  );
  if (outcome !== 'started') return { ended: { code: outcome.code, stdout, stderr } };
  return {
    started: {
      stdout: () => stdout,
      stderr: () => stderr,
      stop() {
        stopped.resolve('SIGTERM');
        return within(exited, 20_000, `switchyard ${args[0]} to exit`);
      },
    },
  };
}

/** `switchyard serve --port 0 --no-demo <args>` in this process, started (or the test fails), and the URL it listens on. */
export async function serveInProcess(args: readonly string[], env: Record<string, string>): Promise<InProcessCommand & { readonly url: string }> {
  const run = await runInProcess(['serve', '--port', '0', '--no-demo', ...args], env);
  if ('ended' in run) throw new Error(`serve exited with ${run.ended.code} before it started\nstdout: ${run.ended.stdout}\nstderr: ${run.ended.stderr}`);
  const url = /switchyard listening on (http:\/\/\S+)/.exec(run.started.stdout())?.[1];
  if (url === undefined) throw new Error(`serve started without saying where it listens: ${run.started.stdout()}`);
  return { ...run.started, url };
}
