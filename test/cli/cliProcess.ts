/**
 * The `switchyard` command as a user runs it, in child processes: one that runs to its end, and a
 * long-running one (`serve`, `worker`) whose output a test waits on, with bounded waits.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The CLI from the sources (through tsx): what the repository's own tests run. */
export const SOURCE_CLI: readonly string[] = [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/main.ts')];

/**
 * How long one command, or one wait for a line, may take. Most of it is the child's start-up (node,
 * tsx compiling the sources and the project's config): 2-4 s alone, 20 s and more on a 2-core
 * machine running the suite beside it (a `serve` took 21 s to say it listens at load 5).
 */
export const CLI_TIMEOUT_MS = 60_000;

/**
 * The timeout of a test (or hook) that starts `children` commands one after another: each may take
 * {@link CLI_TIMEOUT_MS} to start and do its part, and the test 30 s more for the rest. A start-up
 * slowed by load then fails (if at all) on the bounded wait that overran, saying which it was,
 * instead of on the test's timeout.
 */
export function cliTestTimeout(children: number): number {
  return children * CLI_TIMEOUT_MS + 30_000;
}

/**
 * The environment of every child: no model key, no inherited CLI settings, quiet logs, and none of
 * the `npm_*` variables `npm test` sets (`npm_config_local_prefix` would point a child's npm at
 * this repository).
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SWITCHYARD_LOG_LEVEL: 'warn' };
  for (const name of ['SWITCHYARD_MODEL_API_KEY', 'OPENAI_API_KEY', 'SWITCHYARD_MODEL_BASE_URL', 'SWITCHYARD_URL', 'SWITCHYARD_TOKEN', 'NATS_URL']) {
    delete env[name];
  }
  for (const name of Object.keys(env)) if (name.toLowerCase().startsWith('npm_')) delete env[name];
  return { ...env, ...extra };
}

/** What a command printed, and its exit code. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Where and how a command runs. */
export interface CliOptions {
  /** The working directory (where `switchyard.config.*` is looked for). */
  readonly cwd: string;
  /** The command before the arguments. @default {@link SOURCE_CLI} */
  readonly command?: readonly string[];
  readonly env?: Record<string, string>;
  /** @default {@link CLI_TIMEOUT_MS} */
  readonly timeoutMs?: number;
}

/** Runs one command to its end (killed, and rejected, after the timeout). */
export function runCli(args: readonly string[], options: CliOptions): Promise<CliResult> {
  const [file, ...prefix] = options.command ?? SOURCE_CLI;
  const timeoutMs = options.timeoutMs ?? CLI_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(file!, [...prefix, ...args], { cwd: options.cwd, env: childEnv(options.env), detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      killGroup(child.pid, 'SIGKILL');
      reject(new Error(`${labelOf(args, options)} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running command and what it printed so far. */
export interface CliProcess {
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects on exit or after the timeout. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Resolves with the exit code once the command ends by itself; rejects after the timeout. */
  exited(): Promise<number | null>;
  /** SIGTERM to the command's process group (npx, a shell, node), then its exit code. */
  stop(): Promise<number | null>;
  /** Sends `signal` to the command's process group, without waiting. */
  signal(signal: NodeJS.Signals): void;
  /** Whether the command still runs (it has not closed its output and exited). */
  alive(): boolean;
}

/** Starts a long-running command in its own process group. */
export function startCli(args: readonly string[], options: CliOptions): CliProcess {
  const [file, ...prefix] = options.command ?? SOURCE_CLI;
  const timeoutMs = options.timeoutMs ?? CLI_TIMEOUT_MS;
  const child = spawn(file!, [...prefix, ...args], { cwd: options.cwd, env: childEnv(options.env), detached: true });
  let stdout = '';
  let stderr = '';
  const wakers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const wake of wakers) wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'close', not 'exit': it waits for every process holding the output too (`npx` can exit on the
  // stop signal while the switchyard it started still drains and writes to its data directory).
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let running = true;
  void exited.then(() => {
    running = false;
    for (const wake of wakers) wake();
  });
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const match = stdout.match(pattern);
          if (match === null && running) return;
          wakers.delete(check);
          clearTimeout(timer);
          if (match !== null) resolve(match);
          else reject(new Error(`${labelOf(args, options)} exited before printing ${pattern}\nstdout: ${stdout}\nstderr: ${stderr}`));
        };
        const timer = setTimeout(() => {
          wakers.delete(check);
          reject(new Error(`${labelOf(args, options)} did not print ${pattern} in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
        }, timeoutMs);
        wakers.add(check);
        check();
      }),
    exited: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${labelOf(args, options)} did not exit in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
        }, timeoutMs);
        void exited.then((code) => {
          clearTimeout(timer);
          resolve(code);
        });
      }),
    signal(signal) {
      if (running) killGroup(child.pid, signal);
    },
    alive: () => running,
    async stop() {
      if (running) killGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function labelOf(args: readonly string[], options: CliOptions): string {
  return [...(options.command === undefined ? ['switchyard'] : options.command), ...args].join(' ');
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** A user's project served for the tests of one file (see {@link serveProject}); filled in its beforeAll. */
export interface ServedProject {
  /** The project's folder (its `switchyard.config.mts`; the data under `data/`). */
  dir: string;
  /** The URL `serve` listens on. */
  url: string;
  serve: CliProcess | undefined;
}

/**
 * A project whose `switchyard.config.mts` is `config`, in a temporary folder inside node_modules/
 * (so its `import 'zod'` resolves as in a user's project), served by `switchyard serve` on a free
 * port for the tests of the calling file: started before them, stopped and removed after.
 */
export function serveProject(name: string, config: string): ServedProject {
  const project: ServedProject = { dir: '', url: '', serve: undefined };
  beforeAll(async () => {
    project.dir = await mkdtemp(join(ROOT, 'node_modules', `.switchyard-cli-${name}-`));
    await writeFile(join(project.dir, 'switchyard.config.mts'), config);
    project.serve = startCli(['serve', '--port', '0', '--dir', join(project.dir, 'data')], { cwd: project.dir });
    project.url = (await project.serve.waitFor(/switchyard listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    await project.serve.waitFor(/press Ctrl\+C to stop/);
  }, cliTestTimeout(1));
  afterAll(async () => {
    await project.serve?.stop();
    if (project.dir !== '') await rm(project.dir, { recursive: true, force: true });
  }, cliTestTimeout(1));
  return project;
}
