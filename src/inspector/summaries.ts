// What an inspector may see of an actor: summaries of snapshots, events and machine definitions,
// small, JSON-safe and with secrets redacted. Never the actor's context itself.
import { mayHoldSecret, REDACTED, redactText } from '../context/redact.js';
import type { Json } from '../thread/events.js';
import { statusOf, type ThreadState } from '../thread/state.js';
import type { InspectedEvent, InspectedSnapshot } from './inspectionMessages.js';

// Static action params stay (`{ type: 'run', params: { step: 'decide' } }`): the machine's author wrote them.
const DROPPED_FROM_DEFINITIONS = new Set(['context', 'input', 'output']);
const MAX_STRING = 200;
const MAX_FIELDS = 12;

/**
 * A machine config as JSON, the way @statelyai/inspect sends it (functions become `{ type: name }`),
 * less what a chart does not need and may hold secrets: `context`, `input`, `output` anywhere, and
 * values under secret-named keys. Returns `undefined` when the config cannot be written.
 */
export function serializeDefinition(config: object): string | undefined {
  // Objects on the path from the root to the value being written: only a value among its own
  // ancestors is a cycle (one object shared by two states is written twice).
  const ancestors: unknown[] = [];
  try {
    return JSON.stringify(config, function (this: unknown, key, value: unknown) {
      if (DROPPED_FROM_DEFINITIONS.has(key)) return undefined;
      if (key !== '' && mayHoldSecret(key)) return REDACTED;
      if (typeof value === 'function') return { type: value.name };
      if (typeof value === 'string') return redactText(value);
      if (value !== null && typeof value === 'object') {
        while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
        if (ancestors.includes(value)) return '[Circular]';
        ancestors.push(value);
      }
      return value;
    });
  } catch {
    return undefined;
  }
}

/** A snapshot reduced to what an inspector shows; never the context itself. */
export function summarizeSnapshot(snapshot: unknown): InspectedSnapshot {
  if (snapshot === null || typeof snapshot !== 'object') return { status: 'active' };
  const s = snapshot as { status?: unknown; value?: unknown; context?: unknown; output?: unknown; error?: unknown; machine?: unknown };
  const status = s.status === 'done' || s.status === 'error' || s.status === 'stopped' ? s.status : 'active';
  const out: { -readonly [K in keyof InspectedSnapshot]: InspectedSnapshot[K] } = { status };
  if ('machine' in s && s.machine !== undefined) {
    out.value = stateValue(s.value);
    const context = summarizeContext(s.context);
    if (context !== undefined) out.context = context;
  }
  if (status === 'done' && s.output !== undefined) out.output = shallow(s.output, 1);
  if (status === 'error') out.error = clip(errorMessage(s.error));
  return out;
}

/** An event's type and a shallow summary of its other fields. */
export function summarizeEvent(event: unknown): InspectedEvent {
  if (event === null || typeof event !== 'object') return { type: typeof event === 'string' ? event : '' };
  const e = event as Record<string, unknown>;
  const type = typeof e.type === 'string' ? e.type : '';
  const fields = shallow(Object.fromEntries(Object.entries(e).filter(([key]) => key !== 'type')), 1);
  return { ...(fields !== null && typeof fields === 'object' && !Array.isArray(fields) ? fields : {}), type };
}

/** What an inspector may see of a context: agents and the supervisor by shape, others shallowly. */
function summarizeContext(context: unknown): { [key: string]: Json } | undefined {
  if (context === null || typeof context !== 'object') return undefined;
  const c = context as Record<string, unknown>;
  const thread = c.thread as { id?: unknown } | undefined;
  // Agent actors have their agent, pipeline actors their pipeline: either names the thread's runner.
  const runner = (c.agent ?? c.pipeline) as { name?: unknown } | undefined;
  const state = c.state as ThreadState | undefined;
  if (thread && typeof thread.id === 'string' && runner && typeof runner.name === 'string' && state && typeof state.version === 'number') {
    return {
      threadId: thread.id,
      agent: runner.name,
      status: statusOf(state),
      version: state.version,
      ...(typeof c.stopped === 'string' ? { stopped: clip(c.stopped) } : {}),
    };
  }
  if (Array.isArray(c.running) && Array.isArray(c.queue)) {
    return { running: c.running.length, queued: c.queue.length, ...(typeof c.maxConcurrent === 'number' ? { maxConcurrent: c.maxConcurrent } : {}) };
  }
  const summary = shallow(context, 0);
  return summary !== null && typeof summary === 'object' && !Array.isArray(summary) ? summary : undefined;
}

function stateValue(value: unknown): Json {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return null;
  const out: { [key: string]: Json } = {};
  for (const [key, child] of Object.entries(value)) out[key] = stateValue(child);
  return out;
}

/**
 * Primitives kept (strings clipped and redacted), secret-named keys redacted, arrays as their
 * length, objects kept `depth` more levels (then dropped), at most a dozen fields each.
 */
function shallow(value: unknown, depth: number): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return clip(redactText(value));
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value;
  if (value instanceof Error) return clip(redactText(value.message));
  if (Array.isArray(value)) return `[${value.length} item${value.length === 1 ? '' : 's'}]`;
  if (typeof value !== 'object') return null;
  const out: { [key: string]: Json } = {};
  let fields = 0;
  for (const [key, item] of Object.entries(value)) {
    if (fields >= MAX_FIELDS) break;
    if (typeof item === 'function' || item === undefined) continue;
    if (mayHoldSecret(key)) {
      out[key] = REDACTED;
    } else if (item !== null && typeof item === 'object' && !Array.isArray(item) && !(item instanceof Error)) {
      if (depth <= 0) continue;
      out[key] = shallow(item, depth - 1);
    } else {
      out[key] = shallow(item, depth);
    }
    fields++;
  }
  return out;
}

function clip(text: string): string {
  return text.length > MAX_STRING ? `${text.slice(0, MAX_STRING - 1)}…` : text;
}

function errorMessage(error: unknown): string {
  return redactText(error instanceof Error ? error.message : String(error));
}
