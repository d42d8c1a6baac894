import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { ThreadView } from '../runtime/runtime.js';
import type { Json } from '../thread/events.js';
import { ConfigError, messageOf } from '../errors.js';
import type { Project } from './project.js';
import { isThreadStatus, TERMINAL_STATUSES, THREAD_STATUSES } from '../thread/state.js';
import { createClient, ServerError, UnreachableError, type Client, type RespondBody } from './client.js';
import { followThread } from './follow.js';
import { DEFAULT_URL, eventLine, shellQuote, statusLine, threadDetails, threadsTable, type CommandHint } from './format.js';

/** Exit codes: success, an error (from the server or reaching it), a usage error. */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

/** The outside world of one CLI run, injected so the CLI can run in-process too. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Where `serve` and `worker` look for `switchyard.config.*`. @default process.cwd() */
  cwd?: string;
  /** Resolves when the process is told to stop (for `serve`). */
  stopped: () => Promise<string>;
}

/** Misuse of the CLI that commander cannot see (conflicting flags, bad JSON input). Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface GlobalOptions {
  url: string;
  token?: string;
  json?: boolean;
}

/**
 * Runs the `switchyard` CLI with `argv` (as `process.argv`: node and script first) and resolves
 * with the exit code.
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  let exitCode: number = EXIT.ok;
  const out = (line = ''): void => io.stdout(`${line}\n`);
  const err = (line: string): void => io.stderr(`${line}\n`);
  const program = new Command('switchyard')
    .description('Run small, reliable LLM agents: serve them, launch threads, answer their questions.')
    .version(packageVersion(), '-V, --version')
    .addOption(new Option('--url <url>', 'the switchyard server').env('SWITCHYARD_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'the bearer token (serve: the one clients must send)').env('SWITCHYARD_TOKEN'))
    .option('--json', 'print only JSON to stdout')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  $ switchyard serve                                     # switchyard.config.* here, else the bundled agents
  $ switchyard serve --config agents.config.ts --agents support
  $ NATS_URL=nats://127.0.0.1:4222 switchyard serve     # and on any machine: switchyard worker
  $ switchyard launch calculator "what is (3 + 4) / 2"
  $ switchyard respond <thread-id> --approve
  $ switchyard threads --status awaiting_human`,
    );

  /** The project `serve` and `worker` run: loaded from the config, narrowed by `--agents`. */
  const projectFor = async (opts: { config?: string; agents?: string[] }): Promise<Project> => {
    const { loadProject } = await import('./project.js');
    const project = await loadProject({ cwd: io.cwd ?? process.cwd(), ...(opts.config === undefined ? {} : { config: opts.config }) });
    return opts.agents ? selected(project, opts.agents) : project;
  };
  const selected = async (project: Project, names: readonly string[]): Promise<Project> => {
    const { narrowProject } = await import('./project.js');
    return narrowProject(project, names);
  };

  const globals = (command: Command): GlobalOptions => command.optsWithGlobals<GlobalOptions>();
  const clientOf = (command: Command): Client => {
    const { url, token } = globals(command);
    try {
      new URL(url);
    } catch {
      throw new UsageError(`--url must be a URL such as ${DEFAULT_URL} (got ${JSON.stringify(url)})`);
    }
    return createClient({ url, ...(token ? { token } : {}) });
  };
  const hintOf = (command: Command): CommandHint => {
    const prefix = io.env.npm_command ? 'npx switchyard' : 'switchyard';
    const { url } = globals(command);
    const extra = url.replace(/\/+$/, '') === DEFAULT_URL ? '' : ` --url ${shellQuote(url)}`;
    return (args) => `${prefix} ${args}${extra}`;
  };
  const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));

  /** Follows a thread to rest, printing progress lines (or nothing with --json); returns it then. */
  const follow = async (command: Command, client: Client, view: ThreadView, reportAfter: number): Promise<ThreadView> => {
    const json = globals(command).json === true;
    const hint = hintOf(command);
    const rested = await followThread(client, view.id, {
      reportAfter,
      atLeast: view.version,
      onEvent: (event, threadId) => {
        if (json) return;
        const line = eventLine(event, threadId, hint);
        if (line !== null) out(`  ${threadId === view.id ? '' : '  '}${line}`);
      },
      onChild: ({ threadId, agent, view: child }) => {
        if (json) return;
        if (child === undefined) out(`  ↳ delegated to ${agent}: thread ${threadId}`);
        else if (!TERMINAL_STATUSES.includes(child.status)) out(`  ↳ waiting on ${agent} thread ${threadId}, which is ${child.status}`);
      },
    });
    if (json) printJson(rested);
    else out(`thread ${rested.id} is ${rested.status}${rested.status === 'paused' ? `; resume: ${hint(`resume ${shellQuote(rested.id)}`)}` : ''}`);
    return rested;
  };

  program
    .command('serve')
    .description('serve your project\'s agents (switchyard.config.*, else the bundled examples) over HTTP, with threads stored in files')
    .option('--config <file>', 'the project config (default: switchyard.config.{ts,mts,js,mjs} here, else the bundled examples)')
    .option('--agents <names>', 'only these agents and pipelines of the project, comma-separated', parseList)
    .option('--host <host>', 'the address to listen on', '127.0.0.1')
    .option('--port <port>', 'the port to listen on (0 picks a free one)', parsePort, 7878)
    .option('--dir <dir>', 'the data directory (threads go in <dir>/threads)', '.switchyard')
    .option('--demo', 'launch a demo calculator thread after start (default: with the demo model and no threads yet)')
    .option('--no-demo', 'never launch the demo thread')
    .option('--log-level <level>', 'pino log level (env SWITCHYARD_LOG_LEVEL)')
    .option('--nats-url <url>', 'join NATS (env NATS_URL): threads in a KV bucket, runs as durable jobs shared with `switchyard worker` processes')
    .option('--prefix <prefix>', 'NATS subject prefix (env SWITCHYARD_PREFIX; default switchyard)')
    .option('--replicas <n>', 'NATS: replicas of the KV bucket and the work queues (1, 3 or 5)', parseReplicas)
    .option('--no-worker', 'NATS: take no jobs in this process, leave them to `switchyard worker`')
    .addOption(new Option('--hook-secret <secret>', 'accept signed inbound webhooks on POST /hooks/<agent> (HMAC secret)').env('SWITCHYARD_HOOK_SECRET'))
    .action(
      async (
        opts: {
          host: string;
          port: number;
          dir: string;
          config?: string;
          agents?: string[];
          demo?: boolean;
          logLevel?: string;
          natsUrl?: string;
          prefix?: string;
          replicas?: number;
          worker: boolean;
          hookSecret?: string;
        },
        command: Command,
      ) => {
        const { token } = globals(command);
        const natsUrl = opts.natsUrl ?? (io.env.NATS_URL || undefined);
        const prefix = opts.prefix ?? (io.env.SWITCHYARD_PREFIX || undefined);
        // Loaded here so the client commands start without the runtime, the agents and the server.
        const { serve } = await import('./serve.js');
        const project = await projectFor(opts);
        exitCode = await serve(
          project,
          {
            host: opts.host,
            port: opts.port,
            dir: opts.dir,
            ...(token ? { token } : {}),
            ...(opts.demo === undefined ? {} : { demo: opts.demo }),
            ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
            ...(natsUrl ? { natsUrl, worker: opts.worker } : {}),
            ...(prefix ? { prefix } : {}),
            ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
            ...(opts.hookSecret ? { hookSecret: opts.hookSecret } : {}),
          },
          { out, err, env: io.env, hint: hintOf(command), stopped: io.stopped() },
        );
      },
    );

  program
    .command('worker')
    .description('join NATS and take the jobs (triggers and continuations) of your project\'s agents; run as many as you like')
    .option('--config <file>', 'the project config (default: switchyard.config.{ts,mts,js,mjs} here, else the bundled examples)')
    .option('--agents <names>', 'only these agents and pipelines of the project, comma-separated (default: all)', parseList)
    .option('--nats-url <url>', 'the NATS server, comma-separated for several (env NATS_URL; default nats://127.0.0.1:4222)')
    .option('--prefix <prefix>', 'NATS subject prefix (env SWITCHYARD_PREFIX; default switchyard)')
    .option('--concurrency <n>', 'jobs at once per agent (default 16)', parseConcurrency)
    .option('--replicas <n>', 'replicas of the KV bucket and the work queues (1, 3 or 5)', parseReplicas)
    .option('--log-level <level>', 'pino log level (env SWITCHYARD_LOG_LEVEL)')
    .action(async (opts: { config?: string; agents?: string[]; natsUrl?: string; prefix?: string; concurrency?: number; replicas?: number; logLevel?: string }) => {
      // Loaded here so the client commands start without NATS, the runtime and the agents.
      const { runWorker } = await import('./worker.js');
      const { DEFAULT_NATS_URL } = await import('./joinNats.js');
      const project = await projectFor({ ...opts, agents: undefined });
      if (opts.agents) await selected(project, opts.agents);
      const prefix = opts.prefix ?? (io.env.SWITCHYARD_PREFIX || undefined);
      exitCode = await runWorker(
        project,
        {
          natsUrl: opts.natsUrl ?? (io.env.NATS_URL || DEFAULT_NATS_URL),
          ...(prefix ? { prefix } : {}),
          ...(opts.agents ? { agents: opts.agents } : {}),
          ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
          ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
          ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
        },
        { out, env: io.env, stopped: io.stopped() },
      );
    });

  program
    .command('launch')
    .description('launch a thread of an agent and follow it until it stops or needs a human')
    .argument('<agent>', 'the agent, e.g. calculator')
    .argument('[input...]', 'the input as words (quote it in your shell)')
    .option('--input-json <json>', 'the input as a JSON value instead of words')
    .option('--thread-id <id>', 'choose the thread id (launching an existing id returns that thread)')
    .option('--follow', 'stream progress until the thread rests (the default)')
    .option('--no-follow', 'print the thread id and return at once')
    .action(async (agent: string, words: string[], opts: { inputJson?: string; threadId?: string; follow?: boolean }, command: Command) => {
      const input = launchInput(words, opts.inputJson);
      const client = clientOf(command);
      const json = globals(command).json === true;
      const launched = await client.launch(agent, input, opts.threadId);
      if (opts.follow === false) {
        if (json) printJson(launched);
        else out(launched.id);
        return;
      }
      if (!json) out(`launched ${launched.id} (${launched.agent})`);
      await follow(command, client, launched, 0);
    });

  program
    .command('threads')
    .description('list threads, most recently updated first')
    .option('--agent <agent>', 'only this agent')
    .option('--status <status>', `only these statuses, comma-separated (${THREAD_STATUSES.join(', ')})`, parseStatus)
    .option('--limit <n>', 'at most this many', parseLimit, 50)
    .option('--after <cursor>', "page through every thread in creation order: '' for the first page, then the cursor printed after a page")
    .action(async (opts: { agent?: string; status?: string; limit: number; after?: string }, command: Command) => {
      const client = clientOf(command);
      if (opts.after === undefined) {
        const threads = await client.list(opts);
        if (globals(command).json) printJson(threads);
        else out(threadsTable(threads));
        return;
      }
      const page = await client.page({ ...opts, after: opts.after });
      if (globals(command).json) printJson(page);
      else out(page.next === undefined ? threadsTable(page.threads) : `${threadsTable(page.threads)}\nnext page: --after ${shellQuote(page.next)}`);
    });

  program
    .command('show')
    .description("show a thread: its status, pending request and timeline")
    .argument('<id>', 'the thread id')
    .action(async (id: string, _opts: unknown, command: Command) => {
      const view = await clientOf(command).get(id);
      if (globals(command).json) printJson(view);
      else out(threadDetails(view, hintOf(command)));
    });

  program
    .command('respond')
    .description("answer a thread's pending request (an approval, a question, an escalation)")
    .argument('<id>', 'the thread id')
    .addOption(new Option('--approve', 'approve (approvals; run again for interrupted calls)').conflicts('deny'))
    .addOption(new Option('--deny', 'deny (approvals; stop the agent for escalations)').conflicts('approve'))
    .option('--answer <text>', 'the answer to a question, or guidance for an escalation')
    .option('--comment <text>', 'a note recorded with the response (the model sees it)')
    .option('--request <requestId>', 'the request to answer (default: the pending one)')
    .option('--by <name>', 'who is answering (default: your user name)')
    .option('--follow', 'stream progress until the thread rests again (the default)')
    .option('--no-follow', 'print the new status and return at once')
    .action(
      async (
        id: string,
        opts: { approve?: boolean; deny?: boolean; answer?: string; comment?: string; request?: string; by?: string; follow?: boolean },
        command: Command,
      ) => {
        if (!opts.approve && !opts.deny && opts.answer === undefined) throw new UsageError('respond needs --approve, --deny or --answer <text>');
        const client = clientOf(command);
        let requestId = opts.request;
        if (requestId === undefined) {
          const view = await client.get(id);
          if (view.pendingRequest === null) throw new ServerError(`thread ${id} is not waiting for a human (it is ${view.status})`, 409);
          requestId = view.pendingRequest.requestId;
        }
        const by = opts.by ?? currentUser();
        const body: RespondBody = {
          requestId,
          ...(opts.approve ? { approved: true } : opts.deny ? { approved: false } : {}),
          ...(opts.answer === undefined ? {} : { answer: opts.answer }),
          ...(opts.comment === undefined ? {} : { comment: opts.comment }),
          ...(by ? { by } : {}),
        };
        const view = await client.respond(id, body);
        await afterAction(command, client, view, opts.follow !== false);
      },
    );

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    const description = {
      pause: 'pause a thread (it stops after the step in flight)',
      resume: 'resume a paused thread',
      cancel: 'cancel a thread for good',
    }[action];
    const cmd = program
      .command(action)
      .description(description)
      .argument('<id>', 'the thread id')
      .option('--reason <text>', 'why (recorded on the thread)')
      .option('--by <name>', 'who is asking (default: your user name)');
    if (action === 'resume') {
      cmd.option('--follow', 'stream progress until the thread rests again (the default)').option('--no-follow', 'print the new status and return at once');
    }
    cmd.action(async (id: string, opts: { reason?: string; by?: string; follow?: boolean }, command: Command) => {
      const client = clientOf(command);
      const by = opts.by ?? currentUser();
      const view = await client.control(id, action, { ...(opts.reason ? { reason: opts.reason } : {}), ...(by ? { by } : {}) });
      await afterAction(command, client, view, action === 'resume' && opts.follow !== false);
    });
  }

  /** After respond or a control: the new status, or progress until the thread rests. */
  const afterAction = async (command: Command, client: Client, view: ThreadView, shouldFollow: boolean): Promise<void> => {
    // A resume of a thread that was not paused appends nothing: there is nothing to follow.
    if (shouldFollow && view.status !== 'paused' && !TERMINAL_STATUSES.includes(view.status)) {
      await follow(command, client, view, view.version - 1);
      return;
    }
    if (globals(command).json) printJson(view);
    else out(statusLine(view, hintOf(command)));
  };

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    return exitCodeOf(error, err);
  }
  return exitCode;
}

/** Maps what a command threw to an exit code, printing the message. */
function exitCodeOf(error: unknown, err: (line: string) => void): number {
  if (error instanceof CommanderError) {
    // Commander printed its message already (help and version exit 0).
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (error instanceof ConfigError) {
    err(`error: ${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof UsageError) {
    err(`error: ${error.message}`);
    err('(add --help for usage)');
    return EXIT.usage;
  }
  if (error instanceof ServerError) {
    err(`error: ${error.message}`);
    for (const issue of error.issues) err(`  - ${issue}`);
    return EXIT.error;
  }
  if (error instanceof UnreachableError) {
    err(`error: ${error.message}`);
    return EXIT.error;
  }
  err(`error: ${messageOf(error)}`);
  return EXIT.error;
}

/** The thread input from words or `--input-json`. */
function launchInput(words: readonly string[], inputJson: string | undefined): Json {
  if (inputJson !== undefined) {
    if (words.length > 0) throw new UsageError('give the input as words or as --input-json, not both');
    try {
      return JSON.parse(inputJson) as Json;
    } catch (error) {
      throw new UsageError(`--input-json is not valid JSON: ${messageOf(error)}`);
    }
  }
  if (words.length === 0) throw new UsageError('launch needs an input: words after the agent name, or --input-json <json>');
  return words.join(' ');
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return port;
}

function parseReplicas(value: string): number {
  if (!['1', '3', '5'].includes(value)) throw new InvalidArgumentError('must be 1, 3 or 5');
  return Number(value);
}

function parseConcurrency(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1_000) throw new InvalidArgumentError('must be a number from 1 to 1000');
  return n;
}

function parseList(value: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('must name at least one');
  return items;
}

function parseLimit(value: string): number {
  const limit = Number(value);
  if (!/^\d+$/.test(value) || limit < 1 || limit > 10_000) throw new InvalidArgumentError('must be a number from 1 to 10000');
  return limit;
}

function parseStatus(value: string): string {
  const unknown = value.split(',').map((s) => s.trim()).filter((s) => s !== '' && !isThreadStatus(s));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown status ${unknown.join(', ')}; use ${THREAD_STATUSES.join(', ')}`);
  return value;
}

function currentUser(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

/** The version in the package's package.json (found from src/cli or dist/src/cli). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'switchyard' && pkg.version) return pkg.version;
    } catch {
      // Not here: look one level up.
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}
