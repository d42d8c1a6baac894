/**
 * One chaos run: a real nats-server, worker processes, triggers from a stock NATS client, humans
 * answering over NATS, workers SIGKILLed and replaced every few seconds, the server restarted once.
 * Then {@link audit} checks what it left behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { createNatsKvStore } from '../../src/nats/kvStore.js';
import type { HumanRequest } from '../../src/thread/events.js';
import { startNatsServer } from '../support/natsServer.js';
import { uniqueToken } from '../bus/waiting.js';
import { audit, type AuditReport, type DeadLetterSeen, type PlannedTrigger, type ReceivedResult } from './audit.js';
import { startFleet, type Fleet } from './fleet.js';
import { createHumanDesk, type DeskFigures } from './humanDesk.js';
import { followStream } from './streamFollower.js';

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** Good triggers published. */
  runs: number;
  /** Worker processes. @default 3 */
  workers?: number;
  /** Time over which the triggers are published, ms. */
  publishMs: number;
  /** A worker is SIGKILLed (and replaced) this often while triggers are published, ms. @default 2500 */
  killEveryMs?: number;
  /** Jobs of a killed worker come back after this long. @default 2000 */
  ackWaitMs?: number;
  /** Every trigger must come to rest within this long after it was published, ms. @default 60000 */
  restBoundMs?: number;
  /** A plain subscriber on `<prefix>.>` for the whole run (`nats sub '<prefix>.>'`). @default false */
  observer?: boolean;
  /** Longest a model call works in the workers, ms. @default 100 */
  workMs?: number;
  /** Longest a tool works after its effect, ms: a kill then interrupts the call. @default 600 */
  toolMs?: number;
}

/** The figures of a run, and what its audit found. */
export interface ChaosReport extends AuditReport {
  readonly runs: number;
  readonly badTriggers: number;
  readonly durationMs: number;
  readonly kills: number;
  readonly serverRestarts: number;
  readonly deadLetters: number;
  readonly observed: number;
  readonly desk: DeskFigures;
  readonly workerLogs: string;
  /** The run's directory (ledger, worker logs), kept when the audit found something. */
  readonly dir: string | undefined;
  /** Consumer state of each queue at the end (pending, waiting for an ack, redelivered). */
  readonly queues: string;
  /** When each phase ended, ms after the start. */
  readonly phases: Readonly<Record<string, number>>;
}

const AGENTS = ['charge', 'refund', 'quote', 'ask', 'order'] as const;
const PIPELINE_STEPS = { order: ['quote', 'pay'] };
/** One bad trigger per this many good ones, cycling through the kinds of bad input. */
const BAD_EVERY = 25;

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { runs, workers = 3, publishMs, killEveryMs = 2_500, ackWaitMs = 2_000, restBoundMs = 60_000, observer = false, workMs = 100, toolMs = 600 } = options;
  const started = Date.now();
  const phases: Record<string, number> = {};
  const phase = (name: string): void => void (phases[name] = Date.now() - started);
  const prefix = `chaos${uniqueToken()}`;
  const bucket = `threads_${uniqueToken()}`;
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-chaos-'));
  const ledger = join(dir, 'ledger.jsonl');
  const server = await startNatsServer();
  let fleet: Fleet | undefined;
  let nc: NatsConnection | undefined;
  let keep = false;
  try {
    const env = { NATS_URL: server.url, PREFIX: prefix, BUCKET: bucket, LEDGER: ledger, LOG_FILE: join(dir, 'workers.log'), ACK_WAIT_MS: String(ackWaitMs), WORK_MS: String(workMs), TOOL_MS: String(toolMs) };
    fleet = await startFleet(workers, env);
    phase('fleet up');
    nc = await connect({ servers: server.url, reconnectTimeWait: 100, reconnectJitter: 0, maxReconnectAttempts: -1 });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const resultSubject = `chaosres.${prefix}`;
    // The client keeps what it is sent in streams, so a result or a human request published while
    // it is away (the server restarting) waits for it.
    await jsm.streams.add({ name: `${prefix}_results`, subjects: [resultSubject], storage: StorageType.File, retention: RetentionPolicy.Limits });
    await jsm.streams.add({ name: `${prefix}_humans`, subjects: [`${prefix}.human.>`], storage: StorageType.File, retention: RetentionPolicy.Limits });
    let observed = 0;
    if (observer) nc.subscribe(`${prefix}.>`, { callback: () => void observed++ });

    const desk = createHumanDesk(nc, prefix);
    const results: ReceivedResult[] = [];
    const resultFollower = await followStream(js, jsm, `${prefix}_results`, (data, at) => {
      const result = data as ReceivedResult['data'] & { pendingRequest?: HumanRequest };
      results.push({ data: result, at });
      if (result.pendingRequest && result.threadId) desk.hear(result.threadId, result.pendingRequest);
    });
    const humanFollower = await followStream(js, jsm, `${prefix}_humans`, (data) => {
      const notice = data as HumanRequest & { threadId: string };
      desk.hear(notice.threadId, notice);
    });

    const triggers = plan(runs);
    let serverRestarts = 0;
    const publishing = publishAll(js, prefix, resultSubject, triggers, publishMs);
    const chaos = (async () => {
      let tick = 0;
      let restarted = false;
      let done = false;
      let replacing: Promise<void> = Promise.resolve();
      void publishing.finally(() => (done = true));
      while (!done) {
        await new Promise((resolve) => setTimeout(resolve, killEveryMs));
        // One worker down at a time: the last one killed is back before the next kill (and before
        // the server restart, which a worker starting up would not survive).
        await replacing;
        if (done) break;
        if (!restarted && Date.now() - started > publishMs * 0.45) {
          restarted = true;
          await server.restart();
          serverRestarts++;
          continue;
        }
        ({ replaced: replacing } = await fleet!.killAndReplace(tick++ % workers));
      }
      await replacing;
    })();
    await Promise.all([publishing, chaos]);
    phase('published');

    // Every good trigger rests for good (done, failed or cancelled), within the bound.
    const good = triggers.filter((t) => !t.bad).map((t) => `trg-${t.msgId}`);
    const deadline = Date.now() + restBoundMs;
    while (Date.now() < deadline) {
      const ended = new Set(results.filter((r) => ['done', 'failed', 'cancelled'].includes(r.data.status ?? '')).map((r) => r.data.threadId));
      if (good.every((id) => ended.has(id))) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    phase('rested');
    await desk.idle();
    phase('humans idle');
    await resultFollower.caughtUp(10_000);
    await humanFollower.caughtUp(10_000);
    phase('caught up');
    const store = await createNatsKvStore({ nc, bucket });
    const report = await audit({
      triggers,
      results,
      store,
      ledger,
      deadLetters: await readDeadLetters(jsm, prefix),
      nonIdempotent: ['charge', 'refund'],
      pipelineSteps: PIPELINE_STEPS,
      restBoundMs,
    });
    phase('audited');
    await Promise.all([resultFollower.stop(), humanFollower.stop()]);
    const deskFigures = desk.figures();
    for (const line of deskFigures.unanswered) report.violations.push(`a human answer never went through: ${line}`);
    for (const line of deskFigures.odd) report.violations.push(`a respond was refused: ${line}`);
    keep = report.violations.length > 0;
    return {
      ...report,
      dir: keep ? dir : undefined,
      phases,
      queues: await queueStates(jsm, prefix),
      runs,
      badTriggers: triggers.filter((t) => t.bad).length,
      durationMs: Date.now() - started,
      kills: fleet.kills,
      serverRestarts,
      deadLetters: (await readDeadLetters(jsm, prefix)).length,
      observed,
      desk: deskFigures,
      workerLogs: fleet.stderr(),
    };
  } finally {
    await fleet?.stop();
    await nc?.close().catch(() => undefined);
    await server.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** The triggers: `runs` good ones over the agents and the pipeline, and a bad one every {@link BAD_EVERY}. */
function plan(runs: number): PlannedTrigger[] {
  const triggers: PlannedTrigger[] = [];
  for (let i = 0; i < runs; i++) {
    triggers.push({ msgId: `c${i}`, agent: AGENTS[i % AGENTS.length]!, bad: false, publishedAt: 0 });
    if (i % BAD_EVERY === BAD_EVERY - 1) triggers.push({ msgId: `bad${Math.floor(i / BAD_EVERY)}`, agent: 'charge', bad: true, publishedAt: 0 });
  }
  return triggers;
}

/** The payload of a trigger: good input for its agent, or one of the kinds of bad input. */
function payloadOf(trigger: PlannedTrigger, index: number, replyTo: string): { subject: string; body: string; headers?: Record<string, string> } {
  if (!trigger.bad) {
    const input = trigger.agent === 'ask' ? 'pick a colour' : { amount: index + 1 };
    return { subject: trigger.agent, body: JSON.stringify({ input, replyTo }) };
  }
  switch (Number(trigger.msgId.slice('bad'.length)) % 4) {
    case 0:
      // Not JSON, so its reply subject can only travel in the header.
      return { subject: 'charge', body: '{"input": not json', headers: { 'Switchyard-Reply-To': replyTo } };
    case 1:
      return { subject: 'charge', body: JSON.stringify({ input: { amount: 1 }, replyTo, extra: true }) };
    case 2:
      return { subject: 'charge', body: JSON.stringify({ input: { amount: -5 }, replyTo }) };
    default:
      return { subject: 'nosuchagent', body: JSON.stringify({ input: 1, replyTo }) };
  }
}

/**
 * Publishes every trigger through JetStream with its msg id, paced over `publishMs`, retrying each
 * until the server stores it; some twice at once, and a few again later (the same msg id: one thread).
 */
async function publishAll(js: JetStreamClient, prefix: string, replyTo: string, triggers: PlannedTrigger[], publishMs: number): Promise<void> {
  const pace = publishMs / triggers.length;
  const begin = Date.now();
  const again: Promise<unknown>[] = [];
  for (const [index, trigger] of triggers.entries()) {
    const due = begin + index * pace;
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    const { subject, body, headers } = payloadOf(trigger, index, replyTo);
    trigger.publishedAt = Date.now();
    const stored = await publishOne(js, `${prefix}.trigger.${subject}`, body, trigger.msgId, headers);
    if (!stored) trigger.refusedAtPublish = true;
    if (!trigger.bad && index % 10 === 0) again.push(publishOne(js, `${prefix}.trigger.${subject}`, body, trigger.msgId));
    if (!trigger.bad && index % 7 === 0 && index > 0) {
      // A client that retries later, after its first publish timed out on its side.
      const earlier = triggers[index - 7]!;
      if (!earlier.bad) again.push(publishOne(js, `${prefix}.trigger.${payloadOf(earlier, index - 7, replyTo).subject}`, payloadOf(earlier, index - 7, replyTo).body, earlier.msgId));
    }
  }
  await Promise.all(again);
}

/** One publish, retried while the server is away; false when it was refused (an unknown agent). */
async function publishOne(js: JetStreamClient, subject: string, body: string, msgId: string, headers: Record<string, string> = {}): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  const hdrs = natsHeaders();
  for (const [key, value] of Object.entries(headers)) hdrs.set(key, value);
  for (;;) {
    try {
      await js.publish(subject, body, { msgID: msgId, headers: hdrs, timeout: 3_000 });
      return true;
    } catch (error) {
      if (/unknown agent/.test(String(error))) return false;
      if (Date.now() > deadline) throw new Error(`could not publish ${msgId} on ${subject}: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function readDeadLetters(jsm: JetStreamManager, prefix: string): Promise<DeadLetterSeen[]> {
  const letters: DeadLetterSeen[] = [];
  for (const name of AGENTS) {
    const stream = `${prefix}_${name}_DLQ`;
    const info = await jsm.streams.info(stream).catch(() => undefined);
    if (info === undefined || info.state.messages === 0) continue;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const stored = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (!stored) continue;
      const record = stored.json<{ headers: Record<string, string>; reason: string }>();
      letters.push({ queue: name, msgId: record.headers['Nats-Msg-Id'], reason: record.reason });
    }
  }
  return letters;
}

async function queueStates(jsm: JetStreamManager, prefix: string): Promise<string> {
  const lines: string[] = [];
  for (const name of AGENTS) {
    const info = await jsm.consumers.info(`${prefix}_${name}`, `${prefix}_${name}_workers`).catch(() => undefined);
    if (info === undefined) continue;
    lines.push(`${name}: pending ${info.num_pending}, ack pending ${info.num_ack_pending}, redelivered ${info.num_redelivered}, waiting ${info.num_waiting}`);
  }
  return lines.join('\n');
}
