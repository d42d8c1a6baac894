import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { redactText } from '../context/redact.js';
import { ConfigError, messageOf } from '../errors.js';
import type { ErrorBody } from '../server/errorMapper.js';
import { cliContext, EXIT, UsageError, type CliIO, type GlobalOptions } from './cliContext.js';
import { ServerError, UnreachableError } from './client.js';
import { DEFAULT_URL, localInstants } from './format.js';
import { addAgentsCommand } from './agentsCommand.js';
import { addDeleteCommands } from './deleteCommands.js';
import { addServerCommands } from './serverCommands.js';
import { addThreadCommands } from './threadCommands.js';

export { EXIT, UsageError, type CliIO } from './cliContext.js';

/**
 * Runs the `switchyard` CLI with `argv` (as `process.argv`: node and script first) and resolves
 * with the exit code.
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const cli = cliContext(io);
  const json = (): boolean => program.opts<GlobalOptions>().json === true;
  const program = new Command('switchyard')
    .description('Run small, reliable LLM agents: serve them, launch threads, answer their questions.')
    .version(packageVersion(), '-V, --version')
    .addOption(new Option('--url <url>', 'the switchyard server').env('SWITCHYARD_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'the bearer token (serve: the one clients must send)').env('SWITCHYARD_TOKEN'))
    .option('--json', 'print JSON for scripts: one value on stdout (threads: {threads, next?}), and a failure as one line on stderr, {error, code?, issues?}')
    .exitOverride()
    // With --json, a usage error is said once, as JSON, by `reportFailure`.
    .configureOutput({ writeOut: io.stdout, writeErr: (text) => void (json() ? undefined : io.stderr(text)) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  $ switchyard serve                                     # switchyard.config.* here or above, else the bundled agents
  $ switchyard serve --config agents.config.ts --agents support
  $ NATS_URL=nats://127.0.0.1:4222 switchyard serve     # and on any machine: switchyard worker
  $ switchyard launch calculator "what is (3 + 4) / 2"
  $ switchyard watch <thread-id>                         # what it did so far, then live
  $ switchyard respond <thread-id> --approve --request <request-id>   # as show prints it
  $ switchyard threads --status awaiting_human
  $ switchyard prune --ended-before 30d --dry-run          # threads that ended over 30 days ago`,
    );

  addServerCommands(program, cli);
  addThreadCommands(program, cli);
  addAgentsCommand(program, cli);
  addDeleteCommands(program, cli);

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    const failure = failureOf(error);
    if (failure.code !== EXIT.ok) reportFailure(failure, json(), cli.err);
    return failure.code;
  }
  return cli.exitCode();
}

/** What a command that threw comes to: its exit code, and what to say. */
interface Failure {
  readonly code: number;
  /** The HTTP API's error body (`{ error, code?, issues? }`: a code when the server sent one), as --json prints it. */
  readonly body: FailureBody;
  /** Commander has said it already (in text). */
  readonly said?: boolean;
  /** Point to --help after the message. */
  readonly usage?: boolean;
}

/** An error body as the CLI prints it: the server's, or one of its own (without a code). */
type FailureBody = Omit<ErrorBody, 'code'> & { readonly code?: string };

function failureOf(error: unknown): Failure {
  if (error instanceof CommanderError) {
    // Help and version exit 0; a parse error's message starts "error: ".
    const message = error.code === 'commander.help' ? 'a command is needed (add --help for the list)' : error.message.replace(/^error: /, '');
    return { code: error.exitCode === 0 ? EXIT.ok : EXIT.usage, body: { error: message }, said: true, usage: true };
  }
  if (error instanceof ConfigError) return { code: EXIT.usage, body: { error: error.message } };
  if (error instanceof UsageError) return { code: EXIT.usage, body: { error: error.message }, usage: true };
  if (error instanceof ServerError) {
    const body: FailureBody = { error: error.message, ...(error.code === undefined ? {} : { code: error.code }) };
    return { code: EXIT.error, body: error.issues.length > 0 ? { ...body, issues: error.issues } : body };
  }
  if (error instanceof UnreachableError) return { code: EXIT.error, body: { error: error.message } };
  return { code: EXIT.error, body: { error: messageOf(error) } };
}

/** Prints a failure on stderr: with --json as one JSON line (scripts parse it), else as text. */
function reportFailure({ body: raw, said = false, usage = false }: Failure, json: boolean, err: (line: string) => void): void {
  // An error's text may quote a secret of the user's (a config that threw with its DSN in it).
  const body: FailureBody = { ...raw, error: redactText(raw.error), ...(raw.issues === undefined ? {} : { issues: raw.issues.map((issue) => redactText(issue)) }) };
  if (json) {
    err(JSON.stringify(body));
    return;
  }
  if (said) return;
  // Text for a human: the instants a server's message states in UTC, in local time (--json keeps them as sent).
  err(`error: ${localInstants(body.error)}`);
  for (const issue of body.issues ?? []) err(`  - ${issue}`);
  if (usage) err('(add --help for usage)');
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
