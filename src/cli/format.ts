import type { ThreadView } from '../runtime/runtime.js';
import type { ThreadSummary } from '../store/threadStore.js';
import { delegationOf, openDelegation, waitedThread, type Delegation, type WaitedDescendant } from '../pipeline/delegations.js';
import { MAX_ERROR_ARGS } from '../context/renderContext.js';
import { maskSealed } from '../context/sealedArgs.js';
import type { CustomData, HumanRequest, Json, ThreadEvent } from '../thread/events.js';
import { deriveState, startedCallEvent, TERMINAL_STATUSES, unrecordedCall, type ThreadStatus, type UnrecordedCall } from '../thread/state.js';

/** The server URL clients use unless told otherwise (and where `serve` listens by default). */
export const DEFAULT_URL = 'http://127.0.0.1:7878';

/** The address a worker's probes (`--health-port`) listen on unless told otherwise, also when told an empty one. */
export const DEFAULT_HEALTH_HOST = '127.0.0.1';

/** Spells a CLI command for the user to run next, e.g. `switchyard respond th_1 --approve`. */
export type CommandHint = (args: string) => string;

/** The default hint: the bare command, as installed or through npx. */
export const plainHint: CommandHint = (args) => `switchyard ${args}`;

const MAX_VALUE = 160;
/** How a sealed value (a secret kept for its tool: see `RuntimeOptions.sealSecret`) reads in a line. */
const SEALED = '[sealed]';
/** A question a human is asked to answer is shown whole, up to this (a runaway one is still cut). */
const MAX_QUESTION = 2000;

/** A JSON value on one line: strings as they are, anything else as compact JSON, clipped. */
export function showValue(value: Json | undefined, max = MAX_VALUE): string {
  const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  const line = maskSealed(text, SEALED).replace(/\s*\n\s*/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * An error's message on one line, its instants in local time (see {@link localInstants}), whole
 * when `whole` (show), else cut in its middle: its start says what switchyard did, its end is the
 * cause's own text (a provider's explanation of a rate limit comes last, after the endpoint).
 */
function errorText(message: string, whole: boolean, at: string): string {
  const line = localInstants(message, at).replace(/\s*\n\s*/g, ' ');
  if (whole || line.length <= MAX_VALUE) return line;
  const head = Math.floor(MAX_VALUE * 0.4);
  const tail = MAX_VALUE - head - 3;
  return `${line.slice(0, head)} … ${line.slice(line.length - tail)}`;
}

/** Quotes a shell argument when it needs it. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Whether an interrupted-call request is about a call the version that asked could not run again
 * (`rerun: false`: its tool gone, or its recorded arguments no longer valid; the question says
 * which): approving it says the call did not take effect, and nothing runs it again.
 */
export function isNotRunAgainRequest(request: HumanRequest): boolean {
  return request.kind === 'interrupted' && request.rerun === false;
}

/**
 * How to answer a pending request from the CLI. The command names the request (`--request`): run
 * after the thread moved on to another request, the server refuses it instead of answering a
 * request its reader never saw.
 */
export function replyHint(threadId: string, request: HumanRequest, hint: CommandHint = plainHint): string {
  const respond = (flag: string): string => hint(`respond ${shellQuote(threadId)} ${flag} --request ${shellQuote(request.requestId)}`);
  switch (request.kind) {
    case 'approval':
      return `${respond('--approve')}  (or --deny --comment "why")`;
    case 'interrupted':
      if (isNotRunAgainRequest(request)) return `${respond('--approve')} if it did not take effect (it is not run again: the question says why)  (or --deny --comment "what happened")`;
      return `${respond('--approve')} to run it again  (or --deny --comment "what happened")`;
    case 'escalation':
      return `${respond('--answer "guidance"')}  (or --deny to stop it)`;
    case 'input':
      if (request.format === 'yes_no') return `${respond('--answer yes')}  (or no)`;
      if (request.format === 'multiple_choice' && request.choices?.length) {
        return `${respond(`--answer ${shellQuote(request.choices[0]!)}`)}  (one of: ${request.choices.join(', ')})`;
      }
      return respond('--answer "..."');
  }
}

/**
 * What a response answered, as its line names it: the request's call or question and its id
 * (`refund({"amount":10}) (req_7_a1)`), or the id alone when the request is not at hand.
 */
function answeredText(requestId: string, request: HumanRequest | undefined): string {
  if (request === undefined) return `request ${requestId}`;
  const call = `${request.tool ?? 'tool'}(${showValue(request.args ?? {})})`;
  const subject = { approval: call, interrupted: `interrupted ${call}`, escalation: 'the escalation', input: `"${showValue(request.question)}"` }[request.kind];
  return `${subject} (${requestId})`;
}

/** The human requests of a thread by id, for the lines of their responses (see {@link EventLineOptions.requests}). */
export function requestsOf(events: readonly ThreadEvent[]): Map<string, HumanRequest> {
  return new Map(events.flatMap((event) => (event.type === 'human_request' ? [[event.data.requestId, event.data] as const] : [])));
}

/** Whether an event is a human request the thread still waits on (answerable), or no request at all. */
export function isOpenRequest(event: ThreadEvent, view: Pick<ThreadView, 'pendingRequest'>): boolean {
  return event.type !== 'human_request' || view.pendingRequest?.requestId === event.data.requestId;
}

/** `↳ waiting on publisher thread th_1--ship, which is awaiting_human`: a child that rests without having ended. */
export function waitingOnLine(child: Delegation, status: ThreadStatus, through: readonly Delegation[] = []): string {
  return `↳ waiting on ${waitedThread(child, through)}, which is ${status}`;
}

/** Options of {@link eventLine}. */
export interface EventLineOptions {
  /**
   * Whether a human request's line says it waits and how to reply: false for a request that is no
   * longer open (answered, or its thread ended), which reads as past. @default true (a live event)
   */
  open?: boolean;
  /**
   * Whether a pipeline's delegation was refused (its call ended in an error: the child was never
   * launched), which its line then says instead of the hand-off. @default false
   */
  refused?: boolean;
  /** Whether errors, escalations and failures are printed whole (`show`), not cut. @default false */
  whole?: boolean;
  /**
   * The thread's human requests by id: a response's line names the request it answered (its call
   * or question), else only its id. @default none
   */
  requests?: ReadonlyMap<string, HumanRequest>;
}

/**
 * One progress line for an event, as `launch --follow` and `show` print them, or `null` for events
 * that add nothing a reader needs (a tool call journaled before it runs, a done_for_now decision
 * whose final line follows).
 */
export function eventLine(event: ThreadEvent, threadId: string, hint: CommandHint = plainHint, { open = true, refused = false, whole = false, requests }: EventLineOptions = {}): string | null {
  switch (event.type) {
    case 'input':
      return `• input: ${showValue(event.data.input)}`;
    case 'prefetch':
      return event.data.ok ? `✓ prefetched ${event.data.name}` : `✗ prefetch ${event.data.name} failed: ${event.data.error ?? ''}`;
    case 'decision':
      if (event.data.intent === 'done_for_now' || event.data.intent === 'request_human_input') return null;
      return `✓ decided ${event.data.intent} ${showValue(event.data.args)}`;
    case 'tool_call': {
      const child = delegationOf(event);
      if (child !== null && refused) return `↳ could not delegate to ${child.agent}: its launch of thread ${child.threadId} was refused`;
      if (child !== null) return `↳ delegated to ${child.agent}: thread ${child.threadId}`;
      return event.data.attempt > 1 ? `↻ running ${event.data.tool} again (attempt ${event.data.attempt})` : null;
    }
    case 'tool_result':
      return `→ ${event.data.tool} = ${showValue(event.data.result)}`;
    case 'error': {
      // A rate limit's message says when it is retried, and why then.
      const retry = event.data.retryAt && event.data.rateLimited !== true ? `; retrying at ${deadlineTime(event.data.retryAt, event.at)}` : '';
      // What the model sent with a decision that was refused (invalid_args, unknown_intent).
      const args = event.data.args === undefined ? '' : `; args: ${showValue(event.data.args, whole ? MAX_ERROR_ARGS : MAX_VALUE)}`;
      return `✗ ${event.data.kind}: ${errorText(event.data.message, whole, event.at)}${args}${retry}`;
    }
    case 'human_request': {
      const r = event.data;
      if (!open) return closedRequestLine(r);
      const reply = `reply: ${replyHint(threadId, r, hint)}`;
      switch (r.kind) {
        case 'approval':
          return `? needs approval: ${r.tool ?? 'tool'}(${showValue(r.args ?? {})})  ${reply}`;
        case 'interrupted':
          return `? interrupted: ${showValue(r.question, MAX_QUESTION)}  ${reply}`;
        case 'escalation':
          return `? needs guidance  ${reply}`;
        case 'input': {
          const context = r.context === undefined ? '' : `  context: ${showValue(r.context, MAX_QUESTION)}`;
          return `? asks${urgencyNote(r)}: ${showValue(r.question, MAX_QUESTION)}${context}  ${reply}`;
        }
      }
    }
    case 'human_response': {
      const d = event.data;
      // What was answered, not only how: an answer may have reached another request than its author read.
      const what = `${answeredText(d.requestId, requests?.get(d.requestId))}${d.by ? ` by ${d.by}` : ''}`;
      const comment = d.comment ? `: ${showValue(d.comment)}` : '';
      if (d.approved === true) return `✓ approved ${what}${comment}`;
      if (d.approved === false) return `✗ denied ${what}${comment}`;
      return `✓ answered ${what}: ${showValue(d.answer ?? '')}${d.comment ? ` (${showValue(d.comment)})` : ''}`;
    }
    case 'control': {
      const mark = { pause: '⏸ paused', resume: '▶ resumed', cancel: '■ cancelled' }[event.data.action];
      const by = event.data.by ? ` by ${event.data.by}` : '';
      return `${mark}${by}${event.data.reason ? `: ${showValue(event.data.reason)}` : ''}`;
    }
    case 'final':
      return `✔ done: ${showValue(event.data.output, 400)}`;
    case 'escalation':
      return `! escalated (${event.data.reason}): ${errorText(event.data.message, whole, event.at)}`;
    case 'failed':
      return `✗ failed: ${errorText(event.data.reason, whole, event.at)}`;
    case 'custom':
      return customLine(event.data, event.at);
  }
}

/** A request no one can answer any more: what it asked, without a reply. */
function closedRequestLine(r: HumanRequest): string {
  switch (r.kind) {
    case 'approval':
      return `? asked for approval: ${r.tool ?? 'tool'}(${showValue(r.args ?? {})})`;
    case 'interrupted':
      if (isNotRunAgainRequest(r)) return `? asked whether an interrupted call took effect: ${showValue(r.question)}`;
      return `? asked whether to run an interrupted call again: ${showValue(r.question)}`;
    case 'escalation':
      return '? asked for guidance';
    case 'input':
      return `? asked: ${showValue(r.question)}`;
  }
}

function customLine(d: CustomData, at: string): string {
  switch (d.phase) {
    case 'after_decision': {
      const mark = d.verdict === 'reject' ? '✗' : d.verdict === 'ask' ? '?' : '✓';
      return `${mark} ${d.step}: ${d.verdict ?? 'accept'}${d.feedback ? `: ${showValue(d.feedback)}` : ''}`;
    }
    case 'intent':
      return `→ ${d.step}${d.output === undefined ? '' : ` = ${showValue(d.output)}`}${d.until === undefined ? '' : `; sleeping until ${deadlineTime(new Date(d.until).toISOString(), at)}`}`;
    case 'compact':
      return `✓ ${d.step}: compacted the context up to event ${d.upTo ?? '?'}`;
    case 'before_decision':
      return `✓ ${d.step}${d.output === undefined ? '' : `: ${showValue(d.output)}`}`;
  }
}

/**
 * What a follow (and show) says of a call whose outcome its cancelled thread has not recorded: not
 * yet, while it may still come; once it no longer can (`never`: see {@link isPastDue}), that it
 * never was, and the idempotency key to check whether the call took effect with.
 */
export function unrecordedLine(threadId: string, call: Pick<UnrecordedCall, 'callId' | 'tool' | 'idempotencyKey'>, hint: CommandHint = plainHint, never = false): string {
  const running = `? ${call.tool} (call ${call.callId}) was running when the thread was cancelled and its outcome`;
  if (never) return `${running} was never recorded (the process running it stopped, or the call outlived its timeout): check whether it took effect (idempotency key ${call.idempotencyKey})`;
  return `${running} is not recorded yet: it may have taken effect; later: ${hint(`show ${shellQuote(threadId)}`)}`;
}

/**
 * Whether the outcome of the call a view's log shows started with none after it can no longer be
 * recorded at `now`: its `callDueBy` (the tool's timeout + a grace from the call's start, as the
 * server knows the tool) has passed. False when the view has none (a tool the server does not know).
 */
export function isPastDue(view: Pick<ThreadView, 'callDueBy'>, now: number): boolean {
  return view.callDueBy !== undefined && Date.parse(view.callDueBy) <= now;
}

/**
 * The tool call a thread that has not ended runs, as `show` names it (from its log, whichever
 * process runs it): when it started, its attempt and idempotency key, and until when its outcome is
 * due, or, past that, that it outlived its timeout. Undefined when no call is open, or it is a
 * pipeline's delegation or sleep (the waiting and wake lines say those), or a human is asked about it.
 */
function callInFlightLine(view: ThreadView, now: number): string | undefined {
  if (TERMINAL_STATUSES.includes(view.status)) return undefined;
  const open = startedCallEvent(view.events);
  if (open === undefined || open.event.data.until !== undefined || delegationOf(open.event) !== null) return undefined;
  const { call } = open;
  const line = `${call.tool} (${call.callId}) started ${localTime(call.startedAt)} (attempt ${call.attempt}), idempotency key ${call.idempotencyKey}`;
  if (view.callDueBy === undefined) return `${line}: running`;
  const due = deadlineTime(view.callDueBy, call.startedAt);
  if (!isPastDue(view, now)) return `${line}: running, its outcome due by ${due}`;
  return `${line}: no outcome by ${due}, past its timeout: the process running it may have stopped (its job is delivered again after the queue's ack wait, or the server takes the thread over when it restarts)`;
}

/**
 * What a `pause` or `cancel` will wait for before the server answers, said before it does: the
 * tool call the thread runs (its log shows it started, with no outcome), or, for a pause, the
 * model call in flight (an actor runs the thread and no call is open). Only when the server's own
 * actor runs the thread (`live`): a call running in another process is not waited for. Undefined
 * when nothing is waited for.
 */
export function waitedCallLine(view: ThreadView, action: 'pause' | 'cancel'): string | undefined {
  if (view.live !== true || (view.status !== 'running' && view.status !== 'backing_off')) return undefined;
  const acting = action === 'pause' ? 'pausing' : 'cancelling';
  const call = runningCall(view);
  if (call !== undefined) return `waiting for the running call ${call} to finish before ${acting}`;
  // A cancel aborts a decision at once; a pause lets it finish.
  return action === 'pause' && view.status === 'running' && openDelegation(view) === null ? `waiting for the model call in flight to finish before ${acting}` : undefined;
}

/**
 * The call a cancelled pipeline's child (`of` names it) runs in the server, which the pipeline's
 * cancel tells to stop without waiting for it: `the running call publish (c1, started 12:30:12) of
 * publisher thread p--pub is told to stop; its outcome is recorded after the cancel`. Undefined
 * when the server's own actor runs no call of it.
 */
export function stoppedCallLine(view: ThreadView, of: string): string | undefined {
  if (view.live !== true || (view.status !== 'running' && view.status !== 'backing_off')) return undefined;
  const call = runningCall(view);
  return call === undefined ? undefined : `the running call ${call} of ${of} is told to stop; its outcome is recorded after the cancel`;
}

/** `publish (c1, started 12:30:12)`: the tool call a thread's log shows started with no outcome; undefined for none (a pipeline waiting on its child runs none). */
function runningCall(view: ThreadView): string | undefined {
  if (openDelegation(view) !== null) return undefined;
  const call = deriveState(view.events).pendingCall;
  if (call === null || !call.started) return undefined;
  const started = view.events.findLast((e) => e.type === 'tool_call' && e.data.callId === call.callId);
  const since = started === undefined ? '' : `, started ${clockTime(started.at)}`;
  return `${call.tool} (${call.callId}${since})`;
}

/**
 * `thread th_1 is awaiting_human` plus what to do next, or, for a thread cancelled while a call of
 * it ran elsewhere, that the call may have taken effect (as `show` says it).
 */
export function statusLine(
  view: Pick<ThreadView, 'id' | 'status' | 'pendingRequest' | 'output' | 'failure' | 'events' | 'callDueBy'>,
  hint: CommandHint = plainHint,
  now: number = Date.now(),
): string {
  const lines = [`thread ${view.id} is ${view.status}`];
  const unrecorded = unrecordedCall(view.events);
  if (unrecorded !== undefined) lines.push(`  ${unrecordedLine(view.id, unrecorded, hint, isPastDue(view, now))}`);
  if (view.status === 'paused') lines.push(`  resume: ${hint(`resume ${shellQuote(view.id)}`)}`);
  else if (view.pendingRequest) lines.push(`  ${pendingText(view.pendingRequest)}`, `  reply: ${replyHint(view.id, view.pendingRequest, hint)}`);
  else if (view.status === 'done' && view.output !== undefined) lines.push(`  output: ${showValue(view.output, 400)}`);
  else if (view.status === 'failed' && view.failure) lines.push(`  failure: ${localInstants(view.failure)}`);
  return lines.join('\n');
}

/**
 * The interrupted call a request asks about, as a human checks its outcome with the service it
 * called: when its last attempt started, which attempt, and the idempotency key it was given.
 */
function interruptedCallLine(events: readonly ThreadEvent[], request: HumanRequest): string | undefined {
  const call = events.findLast((e) => e.type === 'tool_call' && e.data.callId === request.callId);
  if (call?.type !== 'tool_call') return undefined;
  const { tool, callId, attempt, idempotencyKey } = call.data;
  return `${tool} (${callId}) started ${localTime(call.at)} (attempt ${attempt}), idempotency key ${idempotencyKey}`;
}

function pendingText(request: HumanRequest): string {
  return `${request.kind} request ${request.requestId}: ${questionText(request)}`;
}

/**
 * A pending request's question on one line. An escalation's is switchyard's own text quoting the
 * error, whose instants are shown in local time as the error's are; a question the model or a
 * tool asked stays as written (a time in it is what the answer is about).
 */
function questionText(request: HumanRequest): string {
  return showValue(request.kind === 'escalation' ? localInstants(request.question) : request.question, 400);
}

/**
 * ` (high urgency)` for a question the model marked so (its other urgencies, and switchyard's own
 * requests, say nothing: an escalation is always high), else empty.
 */
function urgencyNote(request: HumanRequest): string {
  return request.kind === 'input' && request.urgency === 'high' ? ' (high urgency)' : '';
}

/** The most characters of a pending request a row of the thread list shows. */
const MAX_PENDING_CELL = 60;

/**
 * The thread list as a table: id, agent, status, events, updated, the pipeline (its thread id) of
 * a thread `pipelines` names one for, when a thread listed sleeps or backs off, when it moves
 * again (`wakes`: its time, or `due`), when one waits for a human, what it asks (`pending`:
 * `approval: send_mail {"to":"ana"}`, `input: Which order?`), and when one failed or was cancelled,
 * why (`reason`: the failure, `cancelled by ops: not needed`).
 */
export function threadsTable(threads: readonly ThreadSummary[], now: number = Date.now(), pipelines: ReadonlyMap<string, string> = new Map()): string {
  if (threads.length === 0) return 'no threads';
  const wakes = threads.some((t) => t.wakeAt !== undefined);
  const pending = threads.some((t) => t.pending !== undefined);
  const parents = threads.some((t) => pipelines.has(t.id));
  const failed = threads.some((t) => t.failure !== undefined);
  const rows = [
    ['ID', 'AGENT', 'STATUS', 'EVENTS', 'UPDATED', ...(parents ? ['PIPELINE'] : []), ...(wakes ? ['WAKES'] : []), ...(pending ? ['PENDING'] : []), ...(failed ? ['REASON'] : [])],
    ...threads.map((t) => [
      t.id,
      t.agent,
      t.status,
      String(t.version),
      ago(t.updatedAt, now),
      ...(parents ? [pipelines.get(t.id) ?? ''] : []),
      ...(wakes ? [wakeCell(t.wakeAt, now)] : []),
      ...(pending ? [pendingCell(t.pending)] : []),
      ...(failed ? [reasonCell(t.failure)] : []),
    ]),
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  // A row waiting for nothing ends at its time, without the padding of an empty last cell.
  return rows.map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  ').trimEnd()).join('\n');
}

/** When a thread moves again: its time (with its date when on another day), `due` once passed, empty for none. */
function wakeCell(wakeAt: string | undefined, now: number): string {
  if (wakeAt === undefined) return '';
  const due = Date.parse(wakeAt);
  return Number.isNaN(due) || due > now ? deadlineTime(wakeAt, new Date(now).toISOString()) : 'due';
}

/** Why a thread ended badly, on one short line: its failure, or who cancelled it and why. */
function reasonCell(failure: ThreadSummary['failure']): string {
  if (failure === undefined) return '';
  const why = failure.message?.replace(/\s+/g, ' ').trim();
  const text = failure.kind === 'cancelled' ? `cancelled${failure.by === undefined ? '' : ` by ${failure.by}`}${why ? `: ${why}` : ''}` : (why ?? '');
  return showValue(text, MAX_PENDING_CELL);
}

/** What a waiting thread asks, on one short line: the kind, then the tool and its arguments, or the question. */
function pendingCell(pending: ThreadSummary['pending']): string {
  if (pending === undefined) return '';
  const asks = pending.tool === undefined ? pending.question : `${pending.tool} ${pending.args === undefined ? '' : showValue(pending.args)}`;
  return showValue(`${pending.kind}: ${asks.replace(/\s+/g, ' ').trim()}`, MAX_PENDING_CELL);
}

/**
 * `tokens   5,362  (5,304 prompt + 58 completion, 3 model answers)`: what the thread's model
 * answers cost, the refused ones (an error that records tokens) included, as the inspector sums
 * them; undefined for a thread that asked no model.
 */
function tokensLine(events: readonly ThreadEvent[]): string | undefined {
  let prompt = 0;
  let completion = 0;
  let answers = 0;
  for (const event of events) {
    const tokens = event.type === 'decision' || event.type === 'error' ? event.data.tokens : undefined;
    if (tokens === undefined) continue;
    prompt += tokens.prompt;
    completion += tokens.completion;
    answers++;
  }
  if (answers === 0) return undefined;
  const count = (n: number): string => n.toLocaleString('en-US');
  return `tokens   ${count(prompt + completion)}  (${count(prompt)} prompt + ${count(completion)} completion, ${answers} model answer${answers === 1 ? '' : 's'})`;
}

/**
 * `show`: the status, the pending request with how to answer it, the child a pipeline waits on
 * (`waitingOn`, as the server shows it) with its pending request, the tool call in flight, a call
 * whose outcome its cancel left unrecorded (as a follow says it), and the timeline (where only the
 * pending request offers a reply).
 */
export function threadDetails(view: ThreadView, hint: CommandHint = plainHint, waitingOn?: WaitedDescendant<ThreadView>, now: number = Date.now()): string {
  const lines = [
    `thread   ${view.id}`,
    `agent    ${view.agent}`,
    `status   ${view.status}`,
    `steps    ${view.steps}  (events: ${view.version})`,
  ];
  const tokens = tokensLine(view.events);
  if (tokens !== undefined) lines.push(tokens);
  if (view.createdAt) lines.push(`created  ${localTime(view.createdAt)}`);
  if (view.updatedAt) lines.push(`updated  ${localTime(view.updatedAt)}`);
  if (view.wakeAt) lines.push(wakeLine(view, view.wakeAt, now));
  if (view.queued) {
    const { position, running, maxConcurrent } = view.queued;
    lines.push(`queued   waiting for a slot: ${running} running of maxConcurrent ${maxConcurrent} (${ordinal(position)} in the queue)`);
  }
  if (view.pendingRequest) {
    const r = view.pendingRequest;
    lines.push(`pending  ${r.kind} request ${r.requestId}${urgencyNote(r)}`, `         ${questionText(r)}`);
    if (r.context !== undefined) lines.push(`         context: ${showValue(r.context, MAX_QUESTION)}`);
    const call = r.kind === 'interrupted' ? interruptedCallLine(view.events, r) : undefined;
    if (call !== undefined) lines.push(`         call     ${call}`);
    lines.push(`         reply: ${replyHint(view.id, r, hint)}`);
  }
  if (waitingOn !== undefined) {
    const { child, view: childView, through } = waitingOn;
    lines.push(`waiting  ${waitingOnLine(child, childView.status, through)}`);
    const r = childView.pendingRequest;
    if (r) lines.push(`         ${r.kind} request ${r.requestId}: ${questionText(r)}`, `         reply: ${replyHint(childView.id, r, hint)}`);
  }
  const inFlight = callInFlightLine(view, now);
  if (inFlight !== undefined) lines.push(`call     ${inFlight}`);
  if (view.status === 'done' && view.output !== undefined) lines.push(`output   ${showValue(view.output, 400)}`);
  if (view.failure) lines.push(`failure  ${localInstants(view.failure)}`);
  // Cancelled while a call ran elsewhere: its outcome may still come, or never (that process died).
  const unrecorded = unrecordedCall(view.events);
  if (unrecorded !== undefined) lines.push(unrecordedLine(view.id, unrecorded, hint, isPastDue(view, now)));
  lines.push('', 'timeline');
  const seqWidth = String(view.version).length;
  // A pipeline records a delegation whose launch was refused by an error of its call.
  const requests = requestsOf(view.events);
  const erred = new Set(view.events.flatMap((event) => (event.type === 'error' && event.data.callId !== undefined ? [event.data.callId] : [])));
  for (const event of view.events) {
    // Only the pending request is answerable: one answered, or left when the thread ended, is past.
    const refused = event.type === 'tool_call' && erred.has(event.data.callId);
    const line = eventLine(event, view.id, hint, { open: isOpenRequest(event, view), refused, whole: true, requests });
    if (line !== null) lines.push(`  ${String(event.seq).padStart(seqWidth)}  ${clockTime(event.at)}  ${line}`);
  }
  return lines.join('\n');
}

/**
 * When the thread moves again. A backoff or sleep whose time has passed is not a wake-up ahead: its
 * retry or wake is due (the status stays `backing_off` or `sleeping` until the thread records
 * something: it may wait for a slot, a worker, or a server that has its agent), and runs now when
 * the server runs the thread in an actor (`live`).
 */
function wakeLine(view: Pick<ThreadView, 'status' | 'live'>, wakeAt: string, now: number): string {
  const due = Date.parse(wakeAt);
  if (Number.isNaN(due) || due > now) return `wakes    ${localTime(wakeAt)}`;
  const label = view.status === 'backing_off' ? 'retry    ' : 'wake     ';
  const since = `${deadlineTime(wakeAt, new Date(now).toISOString())}, ${span(now - due)} ago`;
  return view.live ? `${label}running now (due since ${since})` : `${label}due since ${since.replace(', ', ' (')})`;
}

/** A span of time: `7 s`, `1m 5s`, `2h 3m`. */
function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** 1st, 2nd, 3rd, 4th, 11th, 21st... */
function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

/** An instant with its zone, as `toISOString()` writes one (`2026-12-06T12:28:06.032Z`) or with an offset. */
const INSTANT = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})/g;

/**
 * A message with each instant in it shown in local time, as the timeline's own times are: the
 * time alone when on the local day of `at` (the event's), else with its date. A message stores
 * them in UTC (the model and the escalation's reader see that); an engineer reads the timeline.
 */
export function localInstants(message: string, at?: string): string {
  return message.replace(INSTANT, (iso) => (Number.isNaN(Date.parse(iso)) ? iso : at === undefined ? localTime(iso) : deadlineTime(iso, at)));
}

/** HH:MM:SS in local time. */
function clockTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toTimeString().slice(0, 8);
}

/**
 * What a command following a thread says when the thread sleeps or backs off until `until` (epoch
 * ms): it is only waiting, and stopping the command loses nothing.
 */
export function sleepingLine(status: 'sleeping' | 'backing_off', until: number, now: number): string {
  const time = deadlineTime(new Date(until).toISOString(), new Date(now).toISOString());
  const rest = status === 'sleeping' ? `sleeping until ${time}` : `backing off until ${time}`;
  const after = status === 'sleeping' ? 'the thread sleeps on' : 'the thread retries then on its own';
  return `… ${rest}: following it until it moves (Ctrl+C stops following; ${after})`;
}

/** A deadline as the line of `eventAt` shows it: HH:MM:SS on the event's own (local) day, else with its date. */
function deadlineTime(iso: string, eventAt: string): string {
  const time = localTime(iso);
  return time.slice(0, 10) === localTime(eventAt).slice(0, 10) ? clockTime(iso) : time;
}

/** YYYY-MM-DD HH:MM:SS in local time. */
export function localTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${clockTime(iso)}`;
}

/** A short relative time: `12s ago`, `5m ago`, `3h ago`, `2d ago`. */
function ago(iso: string, now: number): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}
