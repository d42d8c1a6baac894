import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, messageOf } from '../errors.js';
import { cliContext, EXIT, UsageError, type CliIO } from './cliContext.js';
import { ServerError, UnreachableError } from './client.js';
import { DEFAULT_URL } from './format.js';
import { addServerCommands } from './serverCommands.js';
import { addThreadCommands } from './threadCommands.js';

export { EXIT, UsageError, type CliIO } from './cliContext.js';

/**
 * Runs the `switchyard` CLI with `argv` (as `process.argv`: node and script first) and resolves
 * with the exit code.
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const cli = cliContext(io);
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
  $ switchyard serve                                     # switchyard.config.* here or above, else the bundled agents
  $ switchyard serve --config agents.config.ts --agents support
  $ NATS_URL=nats://127.0.0.1:4222 switchyard serve     # and on any machine: switchyard worker
  $ switchyard launch calculator "what is (3 + 4) / 2"
  $ switchyard watch <thread-id>                         # what it did so far, then live
  $ switchyard respond <thread-id> --approve
  $ switchyard threads --status awaiting_human`,
    );

  addServerCommands(program, cli);
  addThreadCommands(program, cli);

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    return exitCodeOf(error, cli.err);
  }
  return cli.exitCode();
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
