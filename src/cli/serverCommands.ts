import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, messageOf } from '../errors.js';
import type { CliContext } from './cliContext.js';
import { DEFAULT_HEALTH_HOST, DEFAULT_URL } from './format.js';
import { natsServerUrls } from './natsUrl.js';
import type { ServeOptions } from './serve.js';
import type { WorkerOptions } from './worker.js';

/** What commander parses for `serve`: options of `serve()`, and the project to load. */
type ServeFlags = Omit<ServeOptions, 'token' | 'worker'> & ProjectFlags & { worker: boolean };
/** What commander parses for `worker`: options of `runWorker()`, and the project to load. */
/** `worker`'s flags; `--health-host` always has a value (commander's default). */
type WorkerFlags = Omit<WorkerOptions, 'natsUrl' | 'agents' | 'healthPort' | 'healthHost'> & ProjectFlags & { natsUrl?: string; healthPort?: number | ''; healthHost: string };
type ProjectFlags = { config?: string; agents?: string[] };

const CONFIG_HELP = 'the project config, or a folder holding it (default: switchyard.config.{ts,mts,js,mjs} here, else in the nearest folder above up to the project root, the one with a package.json; else the bundled demo agents)';

/** Lines of the help's environment shared by `serve` and `worker`. */
const MODEL_LINES = `
  SWITCHYARD_MODEL_API_KEY, SWITCHYARD_MODEL_BASE_URL, SWITCHYARD_MODEL
                                      an OpenAI-compatible model: key, base URL, model name
                                      (else OPENAI_API_KEY, OPENAI_BASE_URL; none: the demo model)
  SWITCHYARD_MODEL_TIMEOUT_MS         how long one model request may take (default 60000)
  OPENAI_ORG_ID, OPENAI_PROJECT_ID    sent as OpenAI-Organization and OpenAI-Project
  OPENAI_CUSTOM_HEADERS               more headers for the model (one "Name: value" a line)
  SWITCHYARD_WATCH_NPM                0: do not stop once the npm that started it is gone
                                      (an npm script that backgrounds it on purpose)`;
const SEAL_LINES = `
  SWITCHYARD_SEAL_SECRET              seal the secrets in tool arguments threads record (a
                                      call holding one is not run without it)
  SWITCHYARD_SEAL_SECRET_PREVIOUS     seal secrets it replaced, still opened (comma-separated)`;
const NATS_LINES = `
  NATS_CREDS, NATS_TOKEN, NATS_USER with NATS_PASSWORD
                                      NATS: how the connection authenticates (one kind)
  SWITCHYARD_INSPECT_HEARTBEAT_MS     NATS: how often the process tells the inspectors it lives`;

/** What `serve --help` says of the settings that have no flag (the README has the whole story). */
const SERVE_ENVIRONMENT = `
Environment (besides the variables named above):
  SWITCHYARD_TOKEN                    the bearer token clients must send (as --token)
  SWITCHYARD_RETAIN_ENDED             delete threads that ended this long after their last
                                      update (30d, 12h; at least 1m; default: kept for ever)
  SWITCHYARD_WEBHOOK_URL              send signed webhooks (a thread asks a human, a thread
                                      finished) to these http(s) URLs (comma-separated)
  SWITCHYARD_WEBHOOK_SECRET           the HMAC secret of webhooks and callbacks (required
                                      with a URL, and for a launch's callbackUrl)
  SWITCHYARD_WEBHOOK_SECRET_PREVIOUS  webhook secrets it replaced (comma-separated)
  SWITCHYARD_HOOK_SECRET_PREVIOUS     hook secrets --hook-secret replaced (comma-separated)
  SWITCHYARD_INSPECT_WS               also feed a @statelyai/inspect inspector (ws:// or wss://)${NATS_LINES}${SEAL_LINES}${MODEL_LINES}`;

/** What `worker --help` says of the settings that have no flag. */
const WORKER_ENVIRONMENT = `
Environment (besides the variables named above):
  SWITCHYARD_WEBHOOK_SECRET           the HMAC secret of launches' callbacks
  SWITCHYARD_WEBHOOK_SECRET_PREVIOUS  webhook secrets it replaced (comma-separated)
  SWITCHYARD_INSPECT_WS               also feed a @statelyai/inspect inspector (ws:// or wss://)${NATS_LINES}${SEAL_LINES}${MODEL_LINES}`;

/** `serve` and `worker`: the commands that run a project's agents. */
export function addServerCommands(program: Command, cli: CliContext): void {
  program
    .command('serve')
    .description('serve your project\'s agents (switchyard.config.*, else the bundled demo agents) over HTTP, with threads stored in files')
    .option('--config <path>', CONFIG_HELP)
    .option('--agents <names>', 'only these agents and pipelines of the project, comma-separated', parseList)
    .option('--host <host>', 'the address to listen on', '127.0.0.1')
    .option('--port <port>', 'the port to listen on (0 picks a free one)', parsePort, 7878)
    .option('--dir <dir>', 'the data directory (threads go in <dir>/threads; one serve at a time)', '.switchyard')
    .option('--demo', 'launch a demo calculator thread after start (default: with the demo model and no threads yet)')
    .option('--no-demo', 'never launch the demo thread')
    .option('--log-level <level>', 'pino log level (env SWITCHYARD_LOG_LEVEL)')
    .option('--nats-url <url>', 'join NATS (env NATS_URL): threads in a KV bucket, runs as durable jobs shared with `switchyard worker` processes')
    .option('--prefix <prefix>', 'NATS subject prefix (env SWITCHYARD_PREFIX; default switchyard)')
    .option('--replicas <n>', 'NATS: replicas of the KV bucket and the work queues (1, 3 or 5)', parseReplicas)
    .addOption(new Option('--bucket <name>', 'NATS: the KV bucket of the threads (default <prefix>_threads)').env('SWITCHYARD_BUCKET').argParser(parseBucket))
    .option('--no-worker', 'NATS: take no jobs in this process, leave them to `switchyard worker`')
    .addOption(new Option('--hook-secret <secret>', 'accept signed inbound webhooks on POST /hooks/<agent> (HMAC secret)').env('SWITCHYARD_HOOK_SECRET'))
    .addOption(
      new Option('--allowed-hosts <names>', 'answer only these Host names besides localhost and 127.x (comma-separated; .example.com: it and its subdomains): 403 for another (DNS rebinding); default: only without a token on a loopback address')
        .env('SWITCHYARD_ALLOWED_HOSTS')
        .argParser(parseHosts),
    )
    .addHelpText('after', SERVE_ENVIRONMENT)
    .action(
      async (
        opts: ServeFlags,
        command: Command,
      ) => {
        const { token } = cli.globals(command);
        const natsUrl = opts.natsUrl ?? (cli.io.env.NATS_URL || undefined);
        if (natsUrl) natsServerUrls(natsUrl, opts.natsUrl === undefined ? 'NATS_URL' : '--nats-url');
        const prefix = await checkedPrefix(opts.prefix, cli.io.env);
        // Loaded here so the client commands start without the runtime, the agents and the server.
        const { serve } = await import('./serve.js');
        const { checkedSecret } = await import('./env.js');
        checkedSecret(opts.hookSecret ?? '', command.getOptionValueSource('hookSecret') === 'env' ? 'SWITCHYARD_HOOK_SECRET' : '--hook-secret');
        const { allowedHostsProblem } = await import('../server/browserGuard.js');
        const hostsProblem = allowedHostsProblem(opts.allowedHosts ?? []);
        if (hostsProblem !== undefined) {
          throw new ConfigError(`${command.getOptionValueSource('allowedHosts') === 'env' ? 'SWITCHYARD_ALLOWED_HOSTS' : '--allowed-hosts'}: ${hostsProblem}`);
        }
        const project = await cli.projectFor(opts);
        const code = await serve(
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
            ...(opts.bucket ? { bucket: opts.bucket } : {}),
            ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
            ...(opts.hookSecret ? { hookSecret: opts.hookSecret } : {}),
            ...(opts.allowedHosts && opts.allowedHosts.length > 0 ? { allowedHosts: opts.allowedHosts } : {}),
          },
          // The hints name the URL serve listens on, not the client setting (--url, SWITCHYARD_URL).
          { out: cli.out, err: cli.err, env: cli.io.env, hint: cli.hintFor(DEFAULT_URL), stopped: cli.io.stopped() },
        );
        cli.exitWith(code);
      },
    );

  program
    .command('worker')
    .description('join NATS and take the jobs (triggers and continuations) of your project\'s agents; run as many as you like')
    .option('--config <path>', CONFIG_HELP)
    .option('--agents <names>', 'only these agents and pipelines of the project, comma-separated (default: all)', parseList)
    .option('--nats-url <url>', 'the NATS server, comma-separated for several (env NATS_URL; default nats://127.0.0.1:4222)')
    .option('--prefix <prefix>', 'NATS subject prefix (env SWITCHYARD_PREFIX; default switchyard)')
    .option('--concurrency <n>', 'jobs at once per agent (default 16)', parseConcurrency)
    .option('--replicas <n>', 'replicas of the KV bucket and the work queues (1, 3 or 5)', parseReplicas)
    .addOption(new Option('--bucket <name>', 'the KV bucket of the threads (default <prefix>_threads)').env('SWITCHYARD_BUCKET').argParser(parseBucket))
    .option('--log-level <level>', 'pino log level (env SWITCHYARD_LOG_LEVEL)')
    .addOption(new Option('--health-port <port>', 'serve GET /health and GET /ready on this port, for a load balancer or an orchestrator\'s probes (0 picks a free one; default: none)').env('SWITCHYARD_HEALTH_PORT').argParser(parseHealthPort))
    .addOption(new Option('--health-host <host>', `the address the probes listen on (0.0.0.0 in a container probed from outside; empty: ${DEFAULT_HEALTH_HOST})`).env('SWITCHYARD_HEALTH_HOST').default(DEFAULT_HEALTH_HOST))
    .addHelpText('after', WORKER_ENVIRONMENT)
    .action(async (opts: WorkerFlags, command: Command) => {
      // Empty from the environment (compose's `X: ${X:-}`) is unset; a flag given empty is a script's unset variable.
      if (opts.healthPort === '' && command.getOptionValueSource('healthPort') === 'cli') {
        throw new ConfigError('--health-port is empty: leave it out for no probes, or give a port (0 picks a free one)');
      }
      const healthPort = opts.healthPort === '' ? undefined : opts.healthPort;
      // Loaded here so the client commands start without NATS, the runtime and the agents.
      const { runWorker } = await import('./worker.js');
      const { DEFAULT_NATS_URL } = await import('./joinNats.js');
      const natsUrl = opts.natsUrl ?? (cli.io.env.NATS_URL || DEFAULT_NATS_URL);
      natsServerUrls(natsUrl, opts.natsUrl === undefined ? 'NATS_URL' : '--nats-url');
      const project = await cli.projectFor({ ...opts, agents: undefined });
      if (opts.agents) await cli.selected(project, opts.agents);
      const prefix = await checkedPrefix(opts.prefix, cli.io.env);
      const code = await runWorker(
        project,
        {
          natsUrl,
          ...(prefix ? { prefix } : {}),
          ...(opts.bucket ? { bucket: opts.bucket } : {}),
          ...(opts.agents ? { agents: opts.agents } : {}),
          ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
          ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
          ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
          ...(healthPort === undefined ? {} : { healthPort, healthHost: opts.healthHost }),
        },
        { out: cli.out, env: cli.io.env, stopped: cli.io.stopped() },
      );
      cli.exitWith(code);
    });
}

/**
 * The NATS subject prefix, `--prefix` else `SWITCHYARD_PREFIX` (empty: the default; `--prefix` empty is refused), checked as
 * joining NATS checks it, with or without NATS: a bad one is a {@link ConfigError} naming the setting.
 */
async function checkedPrefix(flag: string | undefined, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const [setting, prefix] = flag !== undefined ? ['--prefix', flag] : ['SWITCHYARD_PREFIX', env.SWITCHYARD_PREFIX];
  // A flag given empty is a script's unset variable, not a wish for the default deployment's queues.
  if (flag === '') throw new ConfigError(`--prefix is empty: leave it out for the default (switchyard), or name the deployment's prefix`);
  if (!prefix) return undefined;
  const { busSubjects } = await import('../surface/subjects.js');
  try {
    busSubjects(prefix);
  } catch (error) {
    throw new ConfigError(`${setting}: ${messageOf(error)}`, { cause: error });
  }
  return prefix;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return port;
}

/** `--health-port` or `SWITCHYARD_HEALTH_PORT`; empty stays '' (commander would make undefined ''), for the action to judge by its source. */
function parseHealthPort(value: string): number | '' {
  return value === '' ? '' : parsePort(value);
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

/** A NATS KV bucket name, as the NATS client checks it (before connecting, not after). */
function parseBucket(value: string): string {
  // Empty: the default bucket.
  if (value !== '' && !/^[-\w]+$/.test(value)) throw new InvalidArgumentError('must be letters, digits, - and _');
  return value;
}

/** `--allowed-hosts`: comma-separated, lower case; empty (compose's `${X:-}`) is none. */
function parseHosts(value: string): string[] {
  return value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

function parseList(value: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('must name at least one');
  return items;
}
