/**
 * The humans of the chaos run: they answer every request they hear of, over NATS, as a Slack
 * bridge would (`<prefix>.thread.<id>.respond`, a plain request with a stock client).
 */
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { HumanRequest } from '../../src/thread/events.js';

/** How a request was answered (decided from its id, so every retry gives the same answer). */
export interface Answer {
  readonly threadId: string;
  readonly kind: HumanRequest['kind'];
  readonly approved?: boolean;
  readonly answer?: string;
  /** Cancel the thread instead of answering (`<prefix>.thread.<id>.control`). */
  readonly cancel?: boolean;
}

/** What the desk did. */
export interface DeskFigures {
  /** Requests answered (the respond was taken, or the thread had moved on already). */
  readonly answered: number;
  /** Threads cancelled instead of answered. */
  readonly cancelled: number;
  /** Respond and control requests sent, retries included. */
  readonly attempts: number;
  /** Requests whose answer never went through (retries exhausted). */
  readonly unanswered: readonly string[];
  /** Replies that were neither ok nor a conflict (a bad request, an internal error). */
  readonly odd: readonly string[];
}

export interface HumanDesk {
  /** Answers `request` of thread `threadId` once (later sightings of the same request are ignored). */
  hear(threadId: string, request: HumanRequest): void;
  /** What each request was answered, by request id. */
  readonly answers: ReadonlyMap<string, Answer>;
  /** Resolves once no answer is in flight. */
  idle(): Promise<void>;
  figures(): DeskFigures;
}

const ATTEMPT_MS = 3_000;
const GIVE_UP_MS = 60_000;

/** A number from 0 to 99 picked by a request id. */
function dice(requestId: string): number {
  return createHash('sha256').update(requestId).digest()[0]! % 100;
}

/**
 * The desk's policy: approve most refunds; of interrupted calls, run 40% again, skip 40% and cancel
 * the thread for the rest (a pipeline's child, say: its pipeline must hear of it); cancel a tenth of
 * the questions.
 */
function answerFor(threadId: string, request: HumanRequest): Answer {
  const roll = dice(request.requestId);
  switch (request.kind) {
    case 'approval':
      return { threadId, kind: request.kind, approved: roll >= 20 };
    case 'interrupted':
      return roll < 20 ? { threadId, kind: request.kind, cancel: true } : { threadId, kind: request.kind, approved: roll >= 60 };
    case 'input':
      return roll < 10 ? { threadId, kind: request.kind, cancel: true } : { threadId, kind: request.kind, answer: roll >= 50 ? 'blue' : 'green' };
    case 'escalation':
      return { threadId, kind: request.kind, approved: false };
  }
}

export function createHumanDesk(nc: NatsConnection, prefix: string): HumanDesk {
  const answers = new Map<string, Answer>();
  const inFlight = new Set<Promise<void>>();
  let answered = 0;
  let cancelled = 0;
  let attempts = 0;
  const unanswered: string[] = [];
  const odd: string[] = [];

  async function respond(threadId: string, request: HumanRequest, answer: Answer): Promise<void> {
    const { threadId: _t, kind: _k, cancel, ...body } = answer;
    const [op, payload] = cancel
      ? ['control', JSON.stringify({ action: 'cancel', reason: `instead of answering ${request.requestId}`, by: 'chaos-desk' })]
      : ['respond', JSON.stringify({ requestId: request.requestId, ...body, by: 'chaos-desk' })];
    const deadline = Date.now() + GIVE_UP_MS;
    while (Date.now() < deadline) {
      attempts++;
      try {
        const reply = await nc.request(`${prefix}.thread.${threadId}.${op}`, payload, { timeout: ATTEMPT_MS });
        const parsed = reply.json<{ ok: boolean; code?: string; kind?: string; error?: string }>();
        // A conflict: an earlier try of this answer was taken, or the thread moved on.
        if (parsed.ok || parsed.kind === 'conflict') {
          answered++;
          if (cancel) cancelled++;
          return;
        }
        if (parsed.code !== 'internal') {
          odd.push(`${threadId} ${request.requestId}: ${parsed.code} ${parsed.error}`);
          return;
        }
      } catch {
        // No responders or a timeout (a server restart, a killed worker): try again.
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    unanswered.push(`${threadId} ${request.requestId}`);
  }

  return {
    hear(threadId, request) {
      if (answers.has(request.requestId)) return;
      const answer = answerFor(threadId, request);
      answers.set(request.requestId, answer);
      const task = respond(threadId, request, answer);
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
    },
    answers,
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    figures: () => ({ answered, cancelled, attempts, unanswered, odd }),
  };
}
