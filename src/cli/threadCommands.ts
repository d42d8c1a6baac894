import { userInfo } from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Json } from '../thread/events.js';
import { approvedOrAnswerRule } from '../thread/humanResponse.js';
import { isThreadStatus, TERMINAL_STATUSES, THREAD_STATUSES, type ThreadStatus } from '../thread/state.js';
import { messageOf, type StateConflict } from '../errors.js';
import { THREAD_ID_PATTERN, THREAD_ID_RULE } from '../runtime/launching.js';
import { parentIdOf, type ThreadView } from '../runtime/runtime.js';
import type { ThreadSummary } from '../store/threadStore.js';
import { ServerError, type Client, type ThreadPage } from './client.js';
import { parseCutoff } from './cutoff.js';
import { checkFitsRequest, respondBody } from './respondFlags.js';
import { UsageError, type CliContext } from './cliContext.js';
import { waitedDescendant, waitedThread, type WaitedDescendant } from '../pipeline/delegations.js';
import { MAX_THREAD_ID_LENGTH } from '../pipeline/pipelineDefinition.js';
import { withInputJsonHint } from './inputJsonHint.js';
import { replyHint, shellQuote, stoppedCallLine, threadDetails, threadsTable, waitedCallLine, type CommandHint } from './format.js';
import { absentAgentNote, unknownAgentFilterNote } from './unservedNote.js';

/**
 * What follows a page of `threads`: where the next one starts (`--after`), or, for a page of the
 * most recently updated cut at its limit, that more may exist and how to see them.
 */
function pageEnd(page: ThreadPage, opts: { limit: number; after?: string }): string[] {
  if (page.next !== undefined) return [`next page: --after ${shellQuote(page.next)}`];
  if (opts.after !== undefined || page.threads.length < opts.limit) return [];
  return [`showing the ${opts.limit} most recently updated; more may exist: --limit <n> shows more, --after '' pages through them all`];
}

/** The commands of threads on a server: launch, threads, show, watch, respond, pause, resume, cancel. */
export function addThreadCommands(program: Command, cli: CliContext): void {
  program
    .command('launch')
    .description('launch a thread of an agent and follow it until it stops or needs a human')
    .argument('<agent>', 'the agent, e.g. calculator')
    .argument('[input...]', 'the input as words (quote it in your shell)')
    .option('--input-json <json>', 'the input as a JSON value instead of words')
    .option('--thread-id <id>', 'choose the thread id (an existing id is not launched again: its thread is shown and followed; refused when it was launched with another input)', parseThreadId)
    .option('--follow', 'stream progress until the thread rests (the default)')
    .option('--no-follow', 'print the thread id and return at once')
    .action(async (agent: string, words: string[], opts: { inputJson?: string; threadId?: string; follow?: boolean }, command: Command) => {
      const input = launchInput(words, opts.inputJson);
      const client = cli.clientOf(command);
      const json = cli.globals(command).json === true;
      const { thread: launched, created } = await client.launch(agent, input, opts.threadId).catch(async (error: unknown) => {
        const refused = relaunchAdvised(error, cli.hintOf(command));
        throw opts.inputJson === undefined ? await withInputJsonHint(client, agent, refused) : refused;
      });
      // The server answers a launch of an existing id (with the same input) with that thread.
      if (!created) cli.err(`thread ${launched.id} already exists; not launched again`);
      if (opts.follow === false) {
        if (json) cli.printJson(launched);
        else cli.out(launched.id);
        return;
      }
      if (!json && created) cli.out(`launched ${launched.id} (${launched.agent})`);
      await cli.follow(command, client, launched, 0);
    });

  program
    .command('threads')
    .description('list threads, most recently updated first')
    .option('--agent <agent>', 'only this agent')
    .option('--status <status>', `only these statuses, comma-separated (${THREAD_STATUSES.join(', ')}); escalated is a status of its own, not awaiting_human`, parseStatus)
    .addOption(new Option('--waiting', `only threads waiting for a human: ${WAITING.join(' and ')} (an agent that gave up and asks for guidance)`).conflicts('status'))
    .option('--limit <n>', 'at most this many', parseLimit, 50)
    .option('--after <cursor>', "page through every thread in creation order: '' for the first page, then the cursor printed after a page")
    .option('--updated-before <cutoff>', 'only threads last updated before it: a duration back from now (30d, 12h, 90m, 2w) or an ISO date (2026-01-31, 2026-01-31T12:00:00Z)', updatedCutoff)
    .action(async ({ waiting, ...filter }: { agent?: string; status?: string; waiting?: boolean; limit: number; after?: string; updatedBefore?: string }, command: Command) => {
      const opts = waiting ? { ...filter, status: WAITING.join(',') } : filter;
      // --json prints the server's answer as it is, `{ threads, next? }`, with or without --after.
      const client = cli.clientOf(command);
      const page = await client.list(opts);
      if (cli.globals(command).json) cli.printJson(page);
      else cli.out([threadsTable(page.threads, Date.now(), await pipelinesOf(client, page.threads)), ...pageEnd(page, opts)].join('\n'));
      // Nothing found for a name the server does not serve: a typo, most likely (a removed agent's
      // threads are still listed, so no note then).
      if (page.threads.length === 0 && opts.agent !== undefined) {
        const note = await unknownAgentFilterNote(client, opts.agent);
        if (note !== undefined) cli.err(note);
      }
    });

  program
    .command('show')
    .description("show a thread: its status, pending request and timeline")
    .argument('<id>', 'the thread id', parseThreadId)
    .action(async (id: string, _opts: unknown, command: Command) => {
      const client = cli.clientOf(command);
      const view = await client.get(id);
      if (cli.globals(command).json) {
        cli.printJson(view);
        return;
      }
      // A pipeline "running" while a child waits: say which, and how to answer it.
      cli.out(threadDetails(view, cli.hintOf(command), await childWaitedOn(client, view)));
      const absent = await absentAgentNote(client, view.agent, view.status);
      if (absent !== undefined) cli.err(absent);
    });

  program
    .command('watch')
    .description('print a thread so far, then follow it until it rests (one waiting for a human or paused, or a pipeline whose child is: until it moves and rests again)')
    .argument('<id>', 'the thread id', parseThreadId)
    .action(async (id: string, _opts: unknown, command: Command) => {
      const client = cli.clientOf(command);
      const view = await client.get(id);
      if (cli.globals(command).json !== true) cli.out(`watching ${view.id} (${view.agent})`);
      // A thread (or a pipeline's child) that waits for someone (an answer, a resume) rests already:
      // follow what they set moving.
      await cli.follow(command, client, view, 0, { untilMoved: true });
    });

  program
    .command('respond')
    .description("answer a thread's pending request (an approval, a question, an escalation)")
    .argument('<id>', 'the thread id', parseThreadId)
    .addOption(new Option('--approve', 'approve (approvals; interrupted calls: run it again, or, when the question says it cannot run again, it did not take effect)').conflicts('deny'))
    .addOption(new Option('--deny', 'deny (approvals; stop the agent for escalations)').conflicts('approve'))
    .option('--answer <text>', 'the answer to a question, or guidance for an escalation (not with --approve or --deny)')
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
        if ((opts.approve || opts.deny) && opts.answer !== undefined) {
          throw new UsageError(approvedOrAnswerRule({ approved: '--approve or --deny', answer: '--answer', comment: '--comment' }));
        }
        const client = cli.clientOf(command);
        const current = await client.get(id);
        const pending = current.pendingRequest;
        if (pending === null) await refuseForChild(client, current, cli.hintOf(command));
        const requestId = opts.request ?? pending?.requestId;
        if (requestId === undefined) {
          // No request to name, so nothing to send: refused here, with the code the server gives a
          // response to a thread that waits for no human.
          const code: StateConflict = TERMINAL_STATUSES.includes(current.status) ? 'thread_ended' : 'not_waiting';
          throw new ServerError(`thread ${id} is not waiting for a human (it is ${current.status})`, 409, [], undefined, code);
        }
        const body = respondBody(opts, requestId, opts.by ?? currentUser());
        // Checked here too so a refusal speaks of flags; the server checks again (the thread may move).
        if (pending !== null) checkFitsRequest(id, pending, body, opts, cli.hintOf(command));
        // A request named while none is open (answered already, the thread moved on or ended) is
        // the server's to judge: its refusal (and code) is printed as it said it.
        const view = await client.respond(id, body);
        // Its line names the request answered: without --request, the one pending when this ran.
        await cli.afterAction(command, client, view, opts.follow !== false, body.requestId);
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
      .argument('<id>', 'the thread id', parseThreadId)
      .option('--reason <text>', 'why (recorded on the thread)')
      .option('--by <name>', 'who is asking (default: your user name)');
    if (action === 'resume') {
      cmd.option('--follow', 'stream progress until the thread rests again (the default)').option('--no-follow', 'print the new status and return at once');
    }
    cmd.action(async (id: string, opts: { reason?: string; by?: string; follow?: boolean }, command: Command) => {
      const client = cli.clientOf(command);
      const by = opts.by ?? currentUser();
      const current = await client.get(id).catch(() => undefined);
      if (action !== 'resume') {
        // The server answers once the call in flight is over (up to the tool's timeoutMs): say so
        // now. A pipeline's cancel does not wait for its child's call: say that it is told to stop.
        const waited = current === undefined ? undefined : (waitedCallLine(current, action) ?? (action === 'cancel' ? await childCallLine(client, current) : undefined));
        if (waited !== undefined) cli.err(waited);
      }
      const view = await client.control(id, action, { ...(opts.reason ? { reason: opts.reason } : {}), ...(by ? { by } : {}) });
      // A resume of a thread that was not paused appends nothing: said, and nothing is followed.
      const notResumed = action === 'resume' && current !== undefined && !view.events.some((e) => e.seq > current.version && e.type === 'control' && e.data.action === 'resume');
      if (notResumed && !cli.globals(command).json && !TERMINAL_STATUSES.includes(view.status)) cli.err(`thread ${view.id} was not paused (it is ${view.status}): nothing to resume`);
      await cli.afterAction(command, client, view, action === 'resume' && !notResumed && opts.follow !== false);
      // Paused (or resumed) for an agent the server lacks: its resume hint would fail, say why.
      const absent = action === 'cancel' || cli.globals(command).json ? undefined : await absentAgentNote(client, view.agent, view.status);
      if (absent !== undefined) cli.err(absent);
    });
  }
}

/**
 * A relaunch refused for another input, with the CLI's ways out (`--thread-id`, `watch`) in place
 * of the HTTP API's; any other error as it is.
 */
function relaunchAdvised(error: unknown, hint: CommandHint): unknown {
  if (!(error instanceof ServerError) || error.code !== 'thread_exists_other_input') return error;
  const id = /^thread (\S+) /.exec(error.message)?.[1];
  const at = error.message.indexOf('; a relaunch does not change it');
  if (id === undefined || at < 0) return error;
  const message = `${error.message.slice(0, at)}; a relaunch does not change it: launch a new thread (another --thread-id), or follow it: ${hint(`watch ${shellQuote(id)}`)}`;
  return new ServerError(message, error.status, error.issues, error.retryAfterMs, error.code);
}

/**
 * Throws a 409 naming the thread to answer, when `view` is a pipeline "running" while its child
 * (or, a nested pipeline's, a thread further down) waits for a human: the answer goes there.
 */
async function refuseForChild(client: Client, view: ThreadView, hint: CommandHint): Promise<void> {
  const waitingOn = await childWaitedOn(client, view);
  const childRequest = waitingOn?.view.pendingRequest;
  if (waitingOn === undefined || !childRequest) return;
  const { child, through } = waitingOn;
  throw new ServerError(`thread ${view.id} is a pipeline waiting on ${waitedThread(child, through)}, which waits for a human; reply: ${replyHint(child.threadId, childRequest, hint)}`, 409);
}

/**
 * The thread a pipeline waits on (see `waitedDescendant`), with its view, while it has not ended;
 * `undefined` for agents' threads, pipelines between steps, and a child named but not launched yet
 * (the timeline's hand-off line says enough then).
 */
async function childWaitedOn(client: Client, view: ThreadView): Promise<WaitedDescendant<ThreadView> | undefined> {
  const waited = await waitedDescendant(view, (threadId) =>
    client.get(threadId).catch((error: unknown) => {
      if (error instanceof ServerError && error.status === 404) return undefined;
      throw error;
    }),
  );
  return waited === undefined || TERMINAL_STATUSES.includes(waited.view.status) ? undefined : waited;
}

/**
 * What a cancel of a pipeline does to the call its child (or, nested, a thread further down) runs
 * in the server: told to stop, not waited for (a pause leaves the child running).
 */
async function childCallLine(client: Client, view: ThreadView): Promise<string | undefined> {
  const waiting = await childWaitedOn(client, view).catch(() => undefined);
  return waiting === undefined ? undefined : stoppedCallLine(waiting.view, waitedThread(waiting.child, waiting.through));
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

/**
 * The pipeline (its thread id) of each listed thread that waits for a human and was launched by
 * one, so that the table says whom the answer serves. One read per such thread, only for an id a
 * pipeline's child may have (`<pipeline id>--<step>`, or one cut to the longest id and hashed),
 * {@link PIPELINE_READS_AT_ONCE} at a time.
 */
export async function pipelinesOf(client: Client, threads: readonly ThreadSummary[]): Promise<Map<string, string>> {
  const children = threads.filter((t) => t.pending !== undefined && (t.id.includes('--') || t.id.length === MAX_THREAD_ID_LENGTH));
  const parents: (string | undefined)[] = [];
  // A few reads at a time, not one per row at once (up to --limit 10000 against one server).
  let next = 0;
  const reader = async (): Promise<void> => {
    for (let i = next++; i < children.length; i = next++) parents[i] = await client.get(children[i]!.id).then(parentIdOf, () => undefined);
  };
  await Promise.all(Array.from({ length: Math.min(PIPELINE_READS_AT_ONCE, children.length) }, reader));
  return new Map(children.flatMap((t, i) => (parents[i] === undefined ? [] : [[t.id, parents[i]] as const])));
}

/** How many `GET /threads/:id` {@link pipelinesOf} has in flight at most. */
const PIPELINE_READS_AT_ONCE = 8;

/** The statuses of threads that wait for a human (`threads --waiting`). */
const WAITING: readonly ThreadStatus[] = ['awaiting_human', 'escalated'];

function parseThreadId(value: string): string {
  if (!THREAD_ID_PATTERN.test(value)) throw new InvalidArgumentError(THREAD_ID_RULE);
  return value;
}

/** `--limit` and `--max`: a whole number from 1 to 10000. */
export function parseLimit(value: string): number {
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

/** `threads --updated-before`: the cutoff as the ISO time the server takes (`updatedBefore`). */
function updatedCutoff(value: string): string {
  const parsed = parseCutoff(value, Date.now(), 'it would list every thread');
  if (!parsed.success) throw new InvalidArgumentError(parsed.error);
  return new Date(parsed.data).toISOString();
}
