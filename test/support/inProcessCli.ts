import { runCli, type CliIO } from '../../src/cli/program.js';

/** What a CLI run printed, and its exit code. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `switchyard <args>` run in this process (never interrupted): its exit code and output. `env` is
 * the environment it is given (none by default); commander reads an option's environment variable
 * from process.env, which the caller stubs for that.
 */
export async function runCliHere(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env,
    stopped: () => new Promise<string>(() => undefined),
  };
  const code = await runCli(['node', 'switchyard', ...args], io);
  return { code, stdout, stderr };
}
