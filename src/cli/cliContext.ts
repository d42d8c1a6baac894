import type { Command } from 'commander';
import { redactUrl } from '../context/redactUrl.js';
import { delegationOf } from '../pipeline/delegations.js';
import { ConfigError } from '../errors.js';
import type { ThreadView } from '../runtime/runtime.js';
import { bearerTokenProblem } from '../server/bearerToken.js';
import type { HumanRequest, ThreadEvent } from '../thread/events.js';
import { TERMINAL_STATUSES, unrecordedCall, type ThreadStatus } from '../thread/state.js';
import { createClient, type Client } from './client.js';
import { followThread } from './follow.js';
import { unservedNote } from './unservedNote.js';
import { visibleText } from './visibleText.js';
import { DEFAULT_URL, eventLine, isOpenRequest, isPastDue, replyHint, requestsOf, shellQuote, sleepingLine, statusLine, unrecordedLine, waitingOnLine, type CommandHint } from './format.js';
import type { Project } from './project.js';

/**
 * Exit codes: success, an error (from the server or reaching it, or a followed thread that ended
 * {@link FAILED_ENDS failed or cancelled}), a usage error.
 */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

/**
 * The ends of a followed thread that make its command exit {@link EXIT.error}, as `gh run watch
 * --exit-status` does. A thread done, or resting until someone acts (a human, a resume), is 0.
 */
const FAILED_ENDS: readonly ThreadStatus[] = ['failed', 'cancelled'];
/** A followed thread that sleeps or backs off for less than this is followed on without a note (a short retry). */
const SLEEPING_NOTE_MIN_MS = 10_000;

/** The outside world of one CLI run, injected so the CLI can run in-process too. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Where `serve` and `worker` look for `switchyard.config.*`. @default process.cwd() */
  cwd?: string;
  /** Resolves when the process is told to stop (for `serve`). */
  stopped: () => Promise<string>;
  /**
   * How long a followed thread may stay quiet before the CLI asks the server whether a worker
   * serves its agent (and says so on stderr when none does). @default 30000
   */
  followQuietMs?: number;
}

/** Misuse of the CLI that commander cannot see (conflicting flags, bad JSON input). Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The bearer token, trimmed (by `serve` and by the client commands alike): one read from a secret
 * file keeps its trailing newline, which no HTTP header carries. A token blank once trimmed (it
 * would leave `serve` open to anyone), holding a control character inside, or any other character
 * outside RFC 6750's token68 (which no `Authorization: Bearer` header carries) is a
 * {@link ConfigError} naming `setting`; the message never holds the token.
 */
function checkedToken(raw: string, setting: string): string {
  const token = raw.trim();
  if (token === '' && raw !== '') throw new ConfigError(`${setting} is blank (only whitespace): set the token itself, or leave it empty for none`);
  if (/[\x00-\x1f\x7f]/.test(token)) throw new ConfigError(`${setting} holds a control character (a line break?) inside the token: no HTTP header can carry it`);
  // One the server would refuse on every request (RFC 6750's token68 only): said before any is sent.
  const problem = token === '' ? undefined : bearerTokenProblem(token, setting);
  if (problem !== undefined) throw new ConfigError(problem);
  return token;
}

/**
 * The server URL the client commands use, refused as a usage error naming `setting` when they
 * could not: not http(s) (a bare `host:7878` parses as the scheme `host:`), with userinfo (fetch
 * refuses to send it; the server takes a bearer token, which no `user:password@` can carry), or with
 * a query or fragment (the API's paths would land inside them). The message shows the URL masked.
 */
function checkedServerUrl(url: string, setting: string): string {
  const parsed = URL.parse(url);
  if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new UsageError(`${setting} must be an http:// or https:// URL such as ${DEFAULT_URL} (got ${JSON.stringify(redactUrl(url))})`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new UsageError(`${setting} ${redactUrl(url)} holds credentials (user:password@), which the CLI does not send: give the server's bearer token with --token or SWITCHYARD_TOKEN`);
  }
  if (/[?#]/.test(url)) {
    throw new UsageError(`${setting} ${redactUrl(url)} has a query or a fragment: give the server's base URL alone, such as ${DEFAULT_URL} (a token goes in --token or SWITCHYARD_TOKEN)`);
  }
  return url;
}

/** The options every command has. */
export interface GlobalOptions {
  url: string;
  token?: string;
  json?: boolean;
}

/** What the commands of one CLI run share: its output, its server client, and its exit code. */
export interface CliContext {
  readonly io: CliIO;
  out(line?: string): void;
  err(line: string): void;
  printJson(value: unknown): void;
  /** Sets the exit code of a command that ran to its end (`serve`, `worker`). */
  exitWith(code: number): void;
  globals(command: Command): GlobalOptions;
  /** The client of the server `--url` names. */
  clientOf(command: Command): Client;
  /** How to spell a follow-up command for this user (`npx switchyard ...`, with `--url` when not the default). */
  hintOf(command: Command): CommandHint;
  /** As {@link CliContext.hintOf}, for the server at `url` (`serve` names the one it listens on). */
  hintFor(url: string): CommandHint;
  /** The project `serve` and `worker` run: loaded from the config, narrowed by `--agents`. */
  projectFor(opts: { config?: string; agents?: string[] }): Promise<Project>;
  /** The project narrowed to these agents and pipelines (an unknown name is a config error). */
  selected(project: Project, names: readonly string[]): Promise<Project>;
  /**
   * Follows a thread to rest, printing progress lines after seq `reportAfter` (or nothing with
   * --json); returns it then, and sets the exit code to {@link EXIT.error} when it ended failed or
   * cancelled. It does not stop before the thread reached seq `atLeast` (default:
   * `view.version`, the event that set it moving); with `untilMoved`, a thread (or a pipeline's
   * child) that rests already is followed until it moves and rests again.
   */
  follow(command: Command, client: Client, view: ThreadView, reportAfter: number, options?: { atLeast?: number; untilMoved?: boolean }): Promise<ThreadView>;
  /**
   * After respond or a control: the new status, or progress until the thread rests. `answered`
   * (respond) is the request answered: its response's line, which names it, comes first either way.
   */
  afterAction(command: Command, client: Client, view: ThreadView, shouldFollow: boolean, answered?: string): Promise<void>;
}

/** Builds the {@link CliContext} of one run; `exitWith` sets what `exitCode()` then returns. */
export function cliContext(io: CliIO): CliContext & { exitCode(): number } {
  let exitCode: number = EXIT.ok;
  // What a thread holds came from outside: no control character of it reaches the terminal.
  const out = (line = ''): void => io.stdout(`${visibleText(line)}\n`);
  const err = (line: string): void => io.stderr(`${visibleText(line)}\n`);
  const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));
  const globals = (command: Command): GlobalOptions => {
    const options = command.optsWithGlobals<GlobalOptions>();
    if (options.token === undefined) return options;
    return { ...options, token: checkedToken(options.token, command.getOptionValueSourceWithGlobals('token') === 'env' ? 'SWITCHYARD_TOKEN' : '--token') };
  };
  const hintFor = (url: string): CommandHint => {
    const prefix = io.env.npm_command ? 'npx switchyard' : 'switchyard';
    const extra = url.replace(/\/+$/, '') === DEFAULT_URL ? '' : ` --url ${shellQuote(url)}`;
    return (args) => `${prefix} ${args}${extra}`;
  };
  const hintOf = (command: Command): CommandHint => hintFor(globals(command).url);
  const selected = async (project: Project, names: readonly string[]): Promise<Project> => {
    const { narrowProject } = await import('./project.js');
    return narrowProject(project, names);
  };
  const follow: CliContext['follow'] = async (command, client, view, reportAfter, { atLeast = view.version, untilMoved = false } = {}) => {
    const json = globals(command).json === true;
    const hint = hintOf(command);
    // A request answered before the follow began (this thread's, or a child's) is past: no reply is offered for it.
    const isOpen = (event: ThreadEvent, threadId: string, open: boolean): boolean => open && (threadId !== view.id || event.seq > view.version || isOpenRequest(event, view));
    // The agent of each thread followed, for the note on one that no worker serves.
    const agents = new Map([[view.id, view.agent]]);
    // The human requests of each thread followed, which the lines of their responses name.
    const requests = new Map<string, Map<string, HumanRequest>>([[view.id, requestsOf(view.events)]]);
    // How deep each thread followed sits under this one (a pipeline's child 1, a nested pipeline's
    // child 2), told from the delegations followed: its lines are indented so (a child delegated
    // before the follow began, unknown here, as a child).
    const depths = new Map([[view.id, 0]]);
    const indentOf = (threadId: string): string => '  '.repeat(depths.get(threadId) ?? 1);
    const note = unservedNote(client, err, io.env.npm_command ? 'npx switchyard' : 'switchyard');
    // Said once per command: a thread that backs off again and again is followed on without a word more.
    let saidSleeping = false;
    const rested = await followThread(client, view.id, {
      reportAfter,
      atLeast,
      untilMoved,
      ...(io.followQuietMs === undefined ? {} : { quietMs: io.followQuietMs }),
      onQuiet: (threadId, status) => {
        const agent = agents.get(threadId);
        if (agent !== undefined) void note.ask(agent, status);
      },
      onSleeping: (threadId, status, until) => {
        const now = Date.now();
        if (json || saidSleeping || until - now < SLEEPING_NOTE_MIN_MS) return;
        saidSleeping = true;
        out(`  ${indentOf(threadId)}${sleepingLine(status, until, now)}`);
      },
      onEvent: (event, threadId, open) => {
        if (json) return;
        const asked = requests.get(threadId) ?? new Map<string, HumanRequest>();
        requests.set(threadId, asked);
        if (event.type === 'human_request') asked.set(event.data.requestId, event.data);
        const line = eventLine(event, threadId, hint, { open: isOpen(event, threadId, open), requests: asked });
        if (line !== null) out(`  ${indentOf(threadId)}${line}`);
        const child = delegationOf(event);
        if (child !== null) depths.set(child.threadId, (depths.get(threadId) ?? 1) + 1);
      },
      // The hand-off itself is the delegating event's line; a child that rests unended is said here,
      // with how to answer it, as show says it.
      onChild: ({ threadId, agent, view: child }) => {
        agents.set(threadId, agent);
        if (json || child === undefined || TERMINAL_STATUSES.includes(child.status)) return;
        out(`  ${waitingOnLine({ threadId, agent }, child.status)}`);
        if (child.pendingRequest) out(`    reply: ${replyHint(threadId, child.pendingRequest, hint)}`);
      },
    });
    note.close();
    if (json) printJson(rested);
    else {
      out(`thread ${rested.id} is ${rested.status}${rested.status === 'paused' ? `; resume: ${hint(`resume ${shellQuote(rested.id)}`)}` : ''}`);
      // Cancelled while a call ran elsewhere, and the server stopped waiting for its outcome.
      const unrecorded = unrecordedCall(rested.events);
      if (unrecorded !== undefined) out(`  ${unrecordedLine(rested.id, unrecorded, hint, isPastDue(rested, Date.now()))}`);
    }
    if (FAILED_ENDS.includes(rested.status)) exitCode = EXIT.error;
    return rested;
  };
  return {
    io,
    out,
    err,
    printJson,
    exitWith: (code) => {
      exitCode = code;
    },
    exitCode: () => exitCode,
    globals,
    clientOf(command) {
      const { url, token } = globals(command);
      const setting = command.getOptionValueSourceWithGlobals('url') === 'env' ? 'SWITCHYARD_URL' : '--url';
      return createClient({ url: checkedServerUrl(url, setting), ...(token ? { token } : {}) });
    },
    hintOf,
    hintFor,
    async projectFor(opts) {
      const { loadProject } = await import('./project.js');
      const project = await loadProject({ cwd: io.cwd ?? process.cwd(), ...(opts.config === undefined ? {} : { config: opts.config }) });
      return opts.agents ? selected(project, opts.agents) : project;
    },
    selected,
    follow,
    async afterAction(command, client, view, shouldFollow, answered) {
      // A resume of a thread that was not paused appends nothing: there is nothing to follow.
      if (shouldFollow && view.status !== 'paused' && !TERMINAL_STATUSES.includes(view.status)) {
        await follow(command, client, view, view.version - 1);
        return;
      }
      if (globals(command).json) {
        printJson(view);
        return;
      }
      const response = view.events.findLast((event) => event.type === 'human_response' && event.data.requestId === answered);
      const line = response === undefined ? null : eventLine(response, view.id, hintOf(command), { requests: requestsOf(view.events) });
      if (line !== null) out(line);
      out(statusLine(view, hintOf(command)));
    },
  };
}
