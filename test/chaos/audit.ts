/**
 * The chaos run's checks, over what the run left behind: every thread in the store, the results
 * received, the ledger of effects, the dead letters. Each broken promise becomes one line.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { Thread, ThreadEvent } from '../../src/thread/events.js';
import { deriveState, statusOf, TERMINAL_STATUSES } from '../../src/thread/state.js';
import type { LedgerLine } from './fixtures/chaosProject.js';

/** A trigger the run published. */
export interface PlannedTrigger {
  readonly msgId: string;
  readonly agent: string;
  /** Bad input, published to be refused: it must be dead-lettered (or refused at publish), never run. */
  readonly bad: boolean;
  /** When it was first published (epoch ms). */
  publishedAt: number;
  /** The publish was refused (an unknown agent): nothing was stored. */
  refusedAtPublish?: boolean;
}

/** A message received on the results subject, with the time the server stored it. */
export interface ReceivedResult {
  readonly data: { threadId?: string; status?: string; error?: string };
  readonly at: number;
}

/** A dead letter, with the msg id of the job it was. */
export interface DeadLetterSeen {
  readonly queue: string;
  readonly msgId: string | undefined;
  readonly reason: string;
}

/** What the audit is given. */
export interface AuditInput {
  readonly triggers: readonly PlannedTrigger[];
  readonly results: readonly ReceivedResult[];
  readonly store: ThreadStore;
  readonly ledger: string;
  readonly deadLetters: readonly DeadLetterSeen[];
  /** Tools whose effects must not happen twice without a human. */
  readonly nonIdempotent: readonly string[];
  /** Child threads each pipeline run must have, by pipeline: their step names. */
  readonly pipelineSteps: Readonly<Record<string, readonly string[]>>;
  /** The bound on a trigger's time to rest, ms. */
  readonly restBoundMs: number;
}

/** What the audit found. */
export interface AuditReport {
  readonly violations: string[];
  readonly threads: number;
  /** Terminal results beyond the first, over all triggers. */
  readonly duplicateResults: number;
  /** Trigger to first terminal result, ms, sorted. */
  readonly timesToRest: number[];
  readonly interrupted: number;
  /** Effects a human allowed to run again after an interruption. */
  readonly rerunsAllowed: number;
  readonly effects: number;
}

const MAX_LINES = 40;

export async function audit(input: AuditInput): Promise<AuditReport> {
  const violations: string[] = [];
  const fail = (line: string): void => {
    if (violations.length < MAX_LINES) violations.push(line);
    else if (violations.length === MAX_LINES) violations.push('... (more)');
  };
  const threads = await readAll(input.store);
  const byId = new Map(threads.map((t) => [t.id, t]));
  checkThreads(input, threads, byId, fail);
  const resultFigures = checkResults(input, byId, fail);
  const ledgerFigures = checkLedger(input, threads, fail);
  checkDeadLetters(input, fail);
  return { violations, threads: threads.length, ...resultFigures, ...ledgerFigures };
}

async function readAll(store: ThreadStore): Promise<Thread[]> {
  const summaries = await store.list({ limit: Number.MAX_SAFE_INTEGER });
  const threads = await Promise.all(summaries.map((s) => store.get(s.id)));
  return threads.filter((t): t is Thread => t !== undefined);
}

type Fail = (line: string) => void;

/** One thread per trigger, one child per pipeline step, nothing else; every thread ended, its log intact. */
function checkThreads(input: AuditInput, threads: readonly Thread[], byId: ReadonlyMap<string, Thread>, fail: Fail): void {
  const expected = new Set<string>();
  const perTrigger = new Map<string, string[]>();
  for (const thread of threads) {
    const source = thread.events[0]?.type === 'input' ? thread.events[0].data.source : undefined;
    if (source?.kind === 'nats' && source.triggerId !== undefined) perTrigger.set(source.triggerId, [...(perTrigger.get(source.triggerId) ?? []), thread.id]);
  }
  for (const trigger of input.triggers) {
    const ids = perTrigger.get(trigger.msgId) ?? [];
    if (trigger.bad) {
      if (ids.length > 0) fail(`bad trigger ${trigger.msgId} ran as ${ids.join(', ')}`);
      continue;
    }
    const id = `trg-${trigger.msgId}`;
    if (ids.length !== 1 || ids[0] !== id) fail(`trigger ${trigger.msgId}: threads [${ids.join(', ')}], expected exactly ${id}`);
    expected.add(id);
    for (const step of input.pipelineSteps[trigger.agent] ?? []) expected.add(`${id}--${step}`);
  }
  for (const thread of threads) {
    if (!expected.has(thread.id)) fail(`unexpected thread ${thread.id} (${thread.agent})`);
    const seqs = thread.events.map((e) => e.seq);
    if (seqs.some((seq, i) => seq !== i + 1)) fail(`thread ${thread.id}: seqs ${seqs.join(',')} are not 1..${seqs.length}`);
    const status = statusOf(deriveState(thread.events));
    if (!TERMINAL_STATUSES.includes(status)) fail(`thread ${thread.id} (${thread.agent}) is ${status} at the end: ${lastTypes(thread.events)}`);
    if (thread.events.some((e) => e.type === 'escalation')) fail(`thread ${thread.id} escalated`);
  }
  for (const id of expected) if (!byId.has(id)) fail(`thread ${id} is missing`);
}

function lastTypes(events: readonly ThreadEvent[]): string {
  return events.slice(-4).map((e) => e.type).join(' > ');
}

/** At least one terminal result per good trigger (duplicates counted), within the bound. */
function checkResults(input: AuditInput, byId: ReadonlyMap<string, Thread>, fail: Fail): Pick<AuditReport, 'duplicateResults' | 'timesToRest'> {
  const terminal = new Map<string, ReceivedResult[]>();
  for (const result of input.results) {
    const { threadId, status } = result.data;
    if (threadId === undefined || status === undefined || !TERMINAL_STATUSES.includes(status as never)) continue;
    terminal.set(threadId, [...(terminal.get(threadId) ?? []), result]);
  }
  let duplicateResults = 0;
  const timesToRest: number[] = [];
  for (const trigger of input.triggers) {
    if (trigger.bad) continue;
    const id = `trg-${trigger.msgId}`;
    const got = terminal.get(id) ?? [];
    if (got.length === 0) {
      fail(`trigger ${trigger.msgId}: no final result (thread ${statusOf(deriveState(byId.get(id)?.events ?? []))})`);
      continue;
    }
    duplicateResults += got.length - 1;
    const statuses = new Set(got.map((r) => r.data.status));
    const thread = byId.get(id);
    const final = thread === undefined ? undefined : statusOf(deriveState(thread.events));
    if (statuses.size !== 1 || !statuses.has(final)) fail(`trigger ${trigger.msgId}: results say ${[...statuses].join('/')}, the thread is ${final}`);
    const took = Math.min(...got.map((r) => r.at)) - trigger.publishedAt;
    timesToRest.push(took);
    if (took > input.restBoundMs) fail(`trigger ${trigger.msgId}: came to rest after ${took} ms (bound ${input.restBoundMs} ms)`);
  }
  const errorReplies = input.results.filter((r) => r.data.error !== undefined).length;
  const badStored = input.triggers.filter((t) => t.bad && !t.refusedAtPublish).length;
  if (errorReplies < badStored) fail(`${errorReplies} error replies for ${badStored} bad triggers`);
  return { duplicateResults, timesToRest: timesToRest.sort((a, b) => a - b) };
}

/** No effect of a non-idempotent tool twice in one thread, unless a human said to run it again. */
function checkLedger(input: AuditInput, threads: readonly Thread[], fail: Fail): Pick<AuditReport, 'interrupted' | 'rerunsAllowed' | 'effects'> {
  const lines: LedgerLine[] = existsSync(input.ledger)
    ? readFileSync(input.ledger, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as LedgerLine)
    : [];
  const effects = new Map<string, LedgerLine[]>();
  for (const line of lines) {
    if (!input.nonIdempotent.includes(line.tool)) continue;
    effects.set(line.threadId, [...(effects.get(line.threadId) ?? []), line]);
  }
  let interrupted = 0;
  let rerunsAllowed = 0;
  for (const thread of threads) {
    // The interrupted requests whose approval runs the call again (not those that said rerun: false).
    const reruns = new Set<string>();
    let allowed = 0;
    for (const event of thread.events) {
      if (event.type === 'human_request' && event.data.kind === 'interrupted') {
        interrupted++;
        if (event.data.rerun !== false) reruns.add(event.data.requestId);
      }
      if (event.type === 'human_response' && reruns.has(event.data.requestId) && event.data.approved === true) allowed++;
    }
    rerunsAllowed += allowed;
    const ran = effects.get(thread.id) ?? [];
    if (ran.length > 1 + allowed) {
      fail(`thread ${thread.id}: ${ran.length} effects (${ran.map((l) => `${l.tool}#${l.attempt}@${l.pid}`).join(', ')}), a human allowed ${allowed} re-run(s)`);
    }
    const results = thread.events.filter((e) => e.type === 'tool_result' && input.nonIdempotent.includes(e.data.tool));
    if (results.length > 0 && ran.length === 0) fail(`thread ${thread.id}: a ${input.nonIdempotent.join('/')} result with no effect in the ledger`);
  }
  return { interrupted, rerunsAllowed, effects: lines.length };
}

/** Dead letters only for the bad triggers, and every bad trigger that was stored is one. */
function checkDeadLetters(input: AuditInput, fail: Fail): void {
  const bad = new Set(input.triggers.filter((t) => t.bad).map((t) => t.msgId));
  const lettered = new Set<string>();
  for (const letter of input.deadLetters) {
    if (letter.msgId === undefined || !bad.has(letter.msgId)) fail(`dead letter in ${letter.queue} for ${letter.msgId ?? 'a job without msg id'}: ${letter.reason}`);
    else lettered.add(letter.msgId);
  }
  for (const trigger of input.triggers) {
    if (trigger.bad && !trigger.refusedAtPublish && !lettered.has(trigger.msgId)) fail(`bad trigger ${trigger.msgId} was not dead-lettered`);
  }
}
