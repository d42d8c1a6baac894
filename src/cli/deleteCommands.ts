import { type Command, InvalidArgumentError } from 'commander';
import { THREAD_ID_PATTERN, THREAD_ID_RULE } from '../runtime/launching.js';
import type { DeletedThread } from '../runtime/runtime.js';
import type { ThreadSummary } from '../store/threadStore.js';
import { TERMINAL_STATUSES } from '../thread/state.js';
import { EXIT, UsageError, type CliContext } from './cliContext.js';
import { ServerError, type Client } from './client.js';
import { parseCutoff } from './cutoff.js';
import { parseLimit } from './threadCommands.js';
import { localTime, shellQuote, type CommandHint } from './format.js';

/** Threads asked for per page of the walk `prune` makes. */
const PAGE = 100;
/** Threads `prune` deletes at most in one run, unless `--max` says otherwise. */
const DEFAULT_MAX = 1_000;

/** A thread that was not deleted, and the server's reason. */
interface NotDeleted {
  readonly id: string;
  readonly status: number;
  readonly error: string;
}

/** The outcome of one deletion: what the server deleted (undefined when it did not say), or its refusal. */
type DeleteOutcome = { readonly success: true; readonly data: DeletedThread | undefined } | { readonly success: false; readonly error: NotDeleted };

/** A call whose outcome the cancel of a thread deleted left unrecorded, as `--json` lists it. */
type UnrecordedOfDeleted = { readonly id: string } & NonNullable<DeletedThread['unrecordedCall']>;

/** The commands that delete threads: `delete <id...>` and `prune --ended-before <cutoff>`. */
export function addDeleteCommands(program: Command, cli: CliContext): void {
  program
    .command('delete')
    .description('delete threads that ended (done, failed or cancelled), for good; cancel a thread first to delete it')
    .argument('<id...>', 'the thread ids')
    .action(async (ids: string[], _opts: unknown, command: Command) => {
      const bad = ids.find((id) => !THREAD_ID_PATTERN.test(id));
      if (bad !== undefined) throw new UsageError(`not a thread id: ${JSON.stringify(bad)} (${THREAD_ID_RULE})`);
      const json = cli.globals(command).json === true;
      const client = cli.clientOf(command);
      const deleted: string[] = [];
      const failed: NotDeleted[] = [];
      const unrecorded: UnrecordedOfDeleted[] = [];
      const named = new Set(ids);
      for (const id of ids) {
        const outcome = await deleteOne(client, id);
        if (outcome.success) {
          deleted.push(id);
          if (!json) cli.out(`deleted ${id}`);
          warnUnrecorded(cli, outcome.data, unrecorded);
          noteChildren(cli, outcome.data, named, cli.hintOf(command));
        } else {
          failed.push(outcome.error);
          if (!json) cli.err(`error: ${id} not deleted: ${outcome.error.error}`);
        }
      }
      if (json) cli.printJson({ deleted, failed, ...unrecordedField(unrecorded) });
      if (failed.length > 0) cli.exitWith(EXIT.error);
    });

  program
    .command('prune')
    .description('delete the threads that ended (done, failed or cancelled) and were last updated before a cutoff')
    .requiredOption('--ended-before <cutoff>', 'a duration back from now (30d, 12h, 90m, 2w) or an ISO date (2026-01-31, 2026-01-31T12:00:00Z)', cutoffOf)
    .option('--agent <agent>', 'only threads of this agent or pipeline (one no longer served too: its stored threads)')
    .option('--dry-run', 'list what would be deleted, and delete nothing')
    .option('--max <n>', `delete at most this many (run it again for more; default ${DEFAULT_MAX})`, parseLimit, DEFAULT_MAX)
    .action(async (opts: { endedBefore: number; agent?: string; dryRun?: boolean; max: number }, command: Command) => {
      const json = cli.globals(command).json === true;
      const client = cli.clientOf(command);
      const cutoff = new Date(opts.endedBefore).toISOString();
      const dryRun = opts.dryRun === true;
      const chosen: string[] = [];
      const skipped: NotDeleted[] = [];
      const failed: NotDeleted[] = [];
      const unrecorded: UnrecordedOfDeleted[] = [];
      let stopped = false;
      if (opts.agent !== undefined) await noteUnserved(cli, client, opts.agent, dryRun);
      for await (const summary of endedBefore(client, opts.endedBefore, opts.agent)) {
        if (chosen.length >= opts.max) {
          stopped = true;
          break;
        }
        if (dryRun) {
          chosen.push(summary.id);
          if (!json) cli.out(`would delete ${summary.id} (${summary.agent}, ${summary.status}, updated ${localTime(summary.updatedAt)})`);
          continue;
        }
        const outcome = await deleteOne(client, summary.id);
        if (outcome.success) {
          chosen.push(summary.id);
          // As the dry run lists them: the terminal's record of what went.
          if (!json) cli.out(`deleted ${summary.id} (${summary.agent}, ${summary.status}, updated ${localTime(summary.updatedAt)})`);
          warnUnrecorded(cli, outcome.data, unrecorded);
          continue;
        }
        const refused = outcome.error;
        // Changed meanwhile (it moved, or went), or its pipeline has not ended: left for a later run.
        if (refused.status === 404 || refused.status === 409) {
          skipped.push(refused);
          if (!json) cli.err(`skipped ${refused.id}: ${refused.error}`);
        } else {
          failed.push(refused);
          if (!json) cli.err(`error: ${refused.id} not deleted: ${refused.error}`);
        }
      }
      if (json) {
        cli.printJson({ cutoff, dryRun, ...(dryRun ? { wouldDelete: chosen } : { deleted: chosen }), skipped, failed, ...unrecordedField(unrecorded), ...(stopped ? { stoppedAtMax: opts.max } : {}) });
      } else {
        const threads = `${chosen.length} thread${chosen.length === 1 ? '' : 's'} that ended before ${localTime(cutoff)}`;
        const parts = [dryRun ? `would delete ${threads} (dry run: nothing deleted)` : `deleted ${threads}`];
        if (skipped.length > 0) parts.push(`skipped ${skipped.length} (changed meanwhile, or its pipeline has not ended)`);
        if (failed.length > 0) parts.push(`failed ${failed.length}`);
        if (stopped) parts.push(`stopped at --max ${opts.max}: run it again for more`);
        cli.out(parts.join('; '));
      }
      if (failed.length > 0) cli.exitWith(EXIT.error);
    });
}

/**
 * Warns on stderr of a thread deleted whose cancel left a call's outcome unrecorded (the server
 * deletes it only once that outcome can no longer come), as the server's answer names that call,
 * and adds the call to `calls` (for `--json`): the thread was the only record of a call that may
 * have taken effect, and the idempotency key is what to check its effect with.
 */
function warnUnrecorded(cli: CliContext, deleted: DeletedThread | undefined, calls: UnrecordedOfDeleted[]): void {
  const call = deleted?.unrecordedCall;
  if (deleted === undefined || call === undefined) return;
  const { callId, tool, idempotencyKey } = call;
  cli.err(`warning: ${deleted.id} was cancelled while ${tool} (call ${callId}) ran, and that call's outcome was never recorded: it may have taken effect; check with its idempotency key ${idempotencyKey} (the deletion removed the thread's record of it)`);
  calls.push({ id: deleted.id, callId, tool, idempotencyKey });
}

/**
 * Says on stderr that a pipeline deleted leaves its child threads, and how to delete them: those
 * still stored that the command does not name (`named`: those before it are gone, those after it go next).
 */
function noteChildren(cli: CliContext, deleted: DeletedThread | undefined, named: ReadonlySet<string>, hint: CommandHint): void {
  const children = (deleted?.children ?? []).filter((child) => !named.has(child));
  if (deleted === undefined || children.length === 0) return;
  cli.err(`note: ${deleted.id} was a pipeline: its child threads ${children.join(', ')} stay; delete them on their own: ${hint(`delete ${children.map(shellQuote).join(' ')}`)}`);
}

/** `--json`'s `unrecordedCalls`, only when a thread deleted left one. */
function unrecordedField(calls: readonly UnrecordedOfDeleted[]): { unrecordedCalls?: readonly UnrecordedOfDeleted[] } {
  return calls.length === 0 ? {} : { unrecordedCalls: calls };
}

/** Deletes one thread: what the server deleted, else its refusal (an unreachable server throws). */
async function deleteOne(client: Client, id: string): Promise<DeleteOutcome> {
  try {
    return { success: true, data: await client.delete(id) };
  } catch (error) {
    if (!(error instanceof ServerError)) throw error;
    return { success: false, error: { id, status: error.status, error: error.message } };
  }
}

/**
 * The threads that ended and were last updated before `cutoff` (epoch ms), walked page by page in
 * the server's stable order (a walk returns each thread once while threads are deleted meanwhile).
 * The server lists only those (`updatedBefore`); the check here stays for a server from before it.
 */
async function* endedBefore(client: Client, cutoff: number, agent: string | undefined): AsyncGenerator<ThreadSummary> {
  let after = '';
  const updatedBefore = new Date(cutoff).toISOString();
  for (;;) {
    const page = await client.list({ status: TERMINAL_STATUSES.join(','), limit: PAGE, after, updatedBefore, ...(agent === undefined ? {} : { agent }) });
    for (const summary of page.threads) if (Date.parse(summary.updatedAt) < cutoff) yield summary;
    if (page.next === undefined) return;
    after = page.next;
  }
}

/**
 * Says on stderr when `agent` is none the server has. Its threads are pruned all the same: an agent
 * removed from the project leaves its threads in the store (retention deletes them too), and a
 * typo is seen in the note. A server that does not answer `GET /agents` gets no note.
 */
async function noteUnserved(cli: CliContext, client: Client, agent: string, dryRun: boolean): Promise<void> {
  let names: string[];
  try {
    names = (await client.agents()).map((a) => a.name);
  } catch (error) {
    if (error instanceof ServerError) return;
    throw error;
  }
  if (names.includes(agent)) return;
  const has = names.length === 0 ? 'none' : names.join(', ');
  cli.err(`note: no agent or pipeline named ${agent} is served (the server has ${has}); its stored threads are ${dryRun ? 'listed' : 'pruned'} all the same`);
}

function cutoffOf(value: string): number {
  const parsed = parseCutoff(value, Date.now());
  if (!parsed.success) throw new InvalidArgumentError(parsed.error);
  return parsed.data;
}
