/**
 * The restore-from-any-prefix check (factor 12): an agent actor started from any stored prefix of a
 * thread continues it exactly as the original run did (same events, seqs, times and ids), given the
 * same model replies and human answers from that point on.
 */
import { expect } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { scriptedModel, type ScriptStep } from '../../src/model/scriptedModel.js';
import { createAgentActor } from '../../src/runtime/agentActor.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { ThreadStore } from '../../src/store/threadStore.js';
import type { HumanRequest, HumanResponse, Thread, ThreadEvent } from '../../src/thread/events.js';
import { createClock, runToEnd, threadOf, typesOf, type Answerer, type RunEnd } from './agentHarness.js';

const THREAD_ID = 'thread-restore';
/** Error kinds that record a model call (each consumed one scripted reply). */
const MODEL_ERROR_KINDS = ['model_http', 'model_timeout', 'invalid_json', 'unknown_intent', 'invalid_args'];

/** How the i-th human request is answered. */
export interface AnswerSpec {
  approve: boolean;
  text: string;
}

/** Answers the i-th human request with the i-th spec (i = responses already in the thread). */
function answerer(specs: readonly AnswerSpec[]): Answerer {
  return (request: HumanRequest, thread: Thread) => {
    const spec = specs[thread.events.filter((e) => e.type === 'human_response').length];
    if (spec === undefined) return undefined;
    return responseFor(request, spec);
  };
}

function responseFor(request: HumanRequest, { approve, text }: AnswerSpec): Omit<HumanResponse, 'requestId'> {
  switch (request.kind) {
    case 'approval':
    case 'interrupted':
      return approve ? { approved: true } : { approved: false, comment: text };
    case 'escalation':
      return approve ? { answer: text } : { approved: false };
    case 'input':
      if (request.format === 'yes_no') return { answer: approve ? 'yes' : 'no' };
      if (request.format === 'multiple_choice') return { answer: request.choices![approve ? 0 : 1]! };
      return { answer: text };
  }
}

/** A store that remembers every version it committed: the prefixes that can exist. */
export function recordingStore(inner: ThreadStore, versions: Set<number>): ThreadStore {
  return {
    ...inner,
    create: async (thread) => {
      const created = await inner.create(thread);
      versions.add(created.events.length);
      return created;
    },
    append: async (id, expected, events) => {
      const appended = await inner.append(id, expected, events);
      versions.add(appended.events.length);
      return appended;
    },
  };
}

/** Runs `agent` from `events` to its end (done, or a human who does not answer). */
export async function runFrom(
  agent: Agent,
  events: readonly ThreadEvent[],
  script: readonly ScriptStep[],
  specs: readonly AnswerSpec[],
  versions?: Set<number>,
): Promise<RunEnd> {
  const clock = createClock(Date.parse(events.at(-1)!.at));
  const memory = createMemoryStore({ clock });
  const store = versions === undefined ? memory : recordingStore(memory, versions);
  const thread = await store.create({ id: THREAD_ID, agent: agent.name, events: [...events] });
  const consumed = events.filter((e) => e.type === 'decision' || (e.type === 'error' && MODEL_ERROR_KINDS.includes(e.data.kind))).length;
  const model = scriptedModel(script.slice(consumed));
  const actor = createAgentActor({ agent, thread, model, store, clock });
  const end = await runToEnd(actor, clock, { answer: answerer(specs), maxIterations: 200 });
  expect(actor.getSnapshot().status === 'done' || ['awaitingHuman', 'escalated'].includes(end.state)).toBe(true);
  return end;
}

/** A fresh thread's events: one input. */
export function startEvents(agent: Agent): ThreadEvent[] {
  return [...threadOf(THREAD_ID, agent.name, [{ type: 'input', data: { input: 'compute something' } }]).events];
}

/** What {@link checkEveryPrefix} checked. */
export interface PrefixCheck {
  /** The original run. */
  readonly run: RunEnd;
  /** Prefixes restored and compared. */
  readonly prefixes: number;
  /** Prefixes that ended at a tool call without its result (a re-run of an idempotent tool). */
  readonly reruns: number;
}

/**
 * Runs `script` from the start, then from every stored prefix of the result, and expects each
 * restored run to end exactly like the original.
 */
export async function checkEveryPrefix(agent: Agent, script: readonly ScriptStep[], specs: readonly AnswerSpec[]): Promise<PrefixCheck> {
  let prefixes = 0;
  let reruns = 0;
  const versions = new Set<number>();
  const a = await runFrom(agent, startEvents(agent), script, specs, versions);
  const n = a.thread.events.length;
  expect([...versions].every((v) => v >= 1 && v <= n)).toBe(true);
  expect(versions.has(n)).toBe(true);

  for (let k = 1; k <= n; k++) {
    // Appends are atomic: a prefix that ends inside one batch (a decision without its
    // human_request, an error without its escalation) is never stored, so never restored.
    if (!versions.has(k)) continue;
    const prefix = a.thread.events.slice(0, k);
    const b = await runFrom(agent, prefix, script, specs);
    const last = prefix.at(-1)!;
    if (last.type === 'tool_call') {
      // The worker "died" while the tool ran: the (idempotent) call runs again as attempt 2
      // with the same idempotency key, and the run goes on as before with one more event.
      reruns++;
      expect(b.thread.events.slice(0, k)).toEqual(prefix);
      const again = b.thread.events[k]!;
      expect(again).toMatchObject({ type: 'tool_call', data: { ...last.data, attempt: last.data.attempt + 1 } });
      const original = a.thread.events[k]!;
      const result = b.thread.events[k + 1]!;
      expect(result.type).toBe(original.type);
      if (original.type === 'tool_result') expect(result.data).toEqual(original.data);
      expect(typesOf(b.thread)).toEqual([...typesOf(a.thread).slice(0, k), 'tool_call', ...typesOf(a.thread).slice(k)]);
      expect(b.status).toBe(a.status);
    } else {
      expect(b.thread.events).toEqual(a.thread.events);
      expect(b.state).toBe(a.state);
      expect(b.status).toBe(a.status);
    }
    prefixes++;
  }
  return { run: a, prefixes, reruns };
}
