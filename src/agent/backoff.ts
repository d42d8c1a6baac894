import { createHash } from 'node:crypto';
import type { Agent } from './agent.js';

/** Exponential backoff with deterministic jitter (a hash of thread and seq), so replays agree. */
export function backoffDelay(agent: Pick<Agent, 'backoff'>, attempt: number, threadId: string, seq: number): number {
  const { initialMs, factor, maxMs, jitter } = agent.backoff;
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
  const u = createHash('sha256').update(`${threadId}:${seq}`).digest().readUInt32BE(0) / 0xffffffff;
  return Math.round(Math.min(maxMs, base * (1 - jitter + 2 * jitter * u)));
}

