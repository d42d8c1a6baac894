import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { ActorRefLike, AnyActorRef, InspectionEvent } from 'xstate';
import type { Bus } from '../bus/bus.js';
import { systemClock, type Clock } from '../clock.js';
import { mayHoldSecret, REDACTED, redactText } from '../context/redact.js';
import type { Json } from '../thread/events.js';
import { statusOf, type ThreadState } from '../thread/state.js';

/** An actor's snapshot as published: JSON, small, with no secrets. */
export interface InspectedSnapshot {
  readonly status: 'active' | 'done' | 'error' | 'stopped';
  /** The state value of a machine actor. */
  readonly value?: Json;
  /**
   * A summary of the context, never the context itself. Agent and pipeline actors: `{ threadId,
   * agent, status, version }` (`agent` names the agent or pipeline); the supervisor: `{ running, queued, maxConcurrent }`; other machines: their
   * top-level primitive fields, secret-named ones redacted.
   */
  readonly context?: { readonly [key: string]: Json };
  /** A summary of the output, when done. */
  readonly output?: Json;
  /** The error message, when failed. */
  readonly error?: string;
}

/** An event as published: its type and a shallow, redacted summary of its fields. */
export interface InspectedEvent {
  readonly type: string;
  readonly [key: string]: Json;
}

interface InspectionBase {
  /** The actor's session id (unique within its process). */
  readonly sessionId: string;
  /** The session id of the actor's root (the supervisor, for agents run by a runtime). */
  readonly rootId: string | undefined;
  /** Epoch milliseconds, as a string (as @statelyai/inspect sends it). */
  readonly createdAt: string;
  /** Unique per message: `<processId>:<n>`. */
  readonly id: string;
  /** The @statelyai/inspect version whose wire shape this is. */
  readonly _version: string;
}

/** `@xstate.actor`: an actor was created. Carries its machine definition, for drawing its chart. */
export interface InspectedActorEvent extends InspectionBase {
  readonly type: '@xstate.actor';
  /** The actor's id (the thread id, for agent actors), or its machine's id. */
  readonly name: string;
  /** The machine config as JSON (functions replaced by `{ type: name }`); `{"id":…}` for other logic. */
  readonly definition: string | undefined;
  readonly parentId: string | undefined;
  readonly snapshot: InspectedSnapshot;
  /** switchyard's addition: the machine's id (`agent`, `supervisor`) or the invoked source (`decide`). */
  readonly machine: string;
}

/** `@xstate.snapshot`: an actor's state changed. */
export interface InspectedSnapshotEvent extends InspectionBase {
  readonly type: '@xstate.snapshot';
  readonly snapshot: InspectedSnapshot;
  /** The event that caused the change. */
  readonly event: InspectedEvent;
  /**
   * switchyard's addition: who the actor is, so an inspector that subscribed after the actor's
   * `@xstate.actor` event (a page opened later, a NATS subscriber that joined late) can still name it.
   */
  readonly actor: { readonly name: string; readonly machine: string; readonly parentId: string | undefined };
}

/** `@xstate.event`: an event was sent to an actor. */
export interface InspectedEventEvent extends InspectionBase {
  readonly type: '@xstate.event';
  readonly event: InspectedEvent;
  readonly sourceId: string | undefined;
}

/**
 * What travels on `<prefix>.inspect.<processId>.<sessionId>`: the wire shape of @statelyai/inspect's
 * `StatelyInspectionEvent`, with JSON-safe summaries in place of live snapshots and events.
 */
export type InspectionMessage = InspectedActorEvent | InspectedSnapshotEvent | InspectedEventEvent;

/** Options of {@link createBusInspector}. */
export interface BusInspectorOptions {
  /** Where inspection events are published. */
  bus: Bus;
  /** Subjects are `<prefix>.inspect.<processId>.<sessionId>`. @default 'switchyard' */
  prefix?: string;
  /**
   * Names this process in subjects ('.', '*', '>' and whitespace become '_').
   * @default `<hostname>:<pid>`, plus `:<n>` for the n-th inspector created in one process
   */
  processId?: string;
  /**
   * Also feed a @statelyai/inspect WebSocket inspector at this URL (e.g. `ws://localhost:8080`,
   * served by `createInspectorServer` from `@statelyai/inspect/server`). It gets the same sanitized
   * events; an unreachable URL is retried quietly and never breaks the runtime.
   * @default none
   */
  websocketUrl?: string;
  /**
   * How long events are gathered before they are published; within one batch only the last
   * snapshot of each actor is sent. 0 publishes on the next turn of the event loop.
   * @default 0
   */
  flushIntervalMs?: number;
  /**
   * Also publish XState's plumbing events: `xstate.init`, a promise actor's resolve and reject
   * events to itself, and the `xstate.snapshot.<child>` events a parent gets about its children
   * (they repeat what the actor and snapshot events already say). Events that move a machine
   * (`xstate.done.actor.*`, `xstate.error.actor.*`, `xstate.after.*` and every event of yours) are
   * always published.
   * @default false
   */
  internalEvents?: boolean;
  /** Stamps `createdAt`. @default the system clock */
  clock?: Clock;
  /** Receives publish failures (inspection never throws into the runtime). @default ignore them */
  onError?: (error: unknown) => void;
}

/** Publishes a runtime's inspection events on the bus. */
export interface BusInspector {
  /** The process id, as it appears in subjects. */
  readonly processId: string;
  /** The subjects this inspector publishes on: `<prefix>.inspect.<processId>.>`. */
  readonly subjects: string;
  /** Pass as `createRuntime({ inspect })`. Cheap: it records the event and returns. */
  inspect(event: InspectionEvent): void;
  /** Publishes everything gathered so far. */
  flush(): Promise<void>;
  /** Publishes what is pending, then stops (later events are ignored) and closes the WebSocket feed. */
  close(): Promise<void>;
}

/** The @statelyai/inspect version whose wire shape the messages follow. */
export const STATELY_INSPECT_VERSION: string = statelyVersion();

/** The subject token for a process or session id: NATS tokens cannot hold '.', '*', '>' or spaces. */
export function subjectToken(value: string): string {
  const token = value.replace(/[.*>\s]/g, '_');
  return token === '' ? '_' : token;
}

let instances = 0;

/**
 * Turns XState inspection events (`@xstate.actor`, `@xstate.snapshot`, `@xstate.event`) of a
 * runtime's supervisor and every agent actor into @statelyai/inspect's wire shape and publishes them
 * on `<prefix>.inspect.<processId>.<sessionId>`, so inspectors anywhere on the bus (switchyard's
 * page, Stately's inspector through `websocketUrl`) see every process. Microsteps and actions are
 * not published (Stately's shape has no place for them).
 *
 * Snapshots are summaries, never the actor's context: an agent's is `{ threadId, agent, status,
 * version }` beside its state value, so no agent definition, model, store, thread or secret leaves
 * the process. Snapshots are coalesced per actor per batch. With no inspector the runtime does no
 * inspection work at all.
 *
 * @example
 * ```ts
 * const inspector = createBusInspector({ bus });
 * const runtime = createRuntime({ agents, store, model, inspect: inspector.inspect });
 * // …
 * await inspector.close();
 * ```
 */
export function createBusInspector(options: BusInspectorOptions): BusInspector {
  const { bus, prefix = 'switchyard', flushIntervalMs = 0, internalEvents = false, clock = systemClock, onError } = options;
  instances += 1;
  const processId = subjectToken(options.processId ?? `${hostname()}:${process.pid}${instances > 1 ? `:${instances}` : ''}`);
  const base = `${prefix}.inspect.${processId}`;
  const definitions = new WeakMap<object, string | undefined>();
  let sequence = 0;
  let closed = false;

  type Pending =
    | { kind: 'actor'; actorRef: ActorRefLike; rootId: string | undefined; at: number }
    | { kind: 'snapshot'; actorRef: ActorRefLike; rootId: string | undefined; snapshot: unknown; event: unknown; at: number }
    | { kind: 'event'; actorRef: ActorRefLike; rootId: string | undefined; event: unknown; sourceId: string | undefined; at: number };
  let pending: Pending[] = [];
  /** Index in `pending` of each actor's snapshot, to replace it with a later one. */
  let snapshotAt = new Map<string, number>();
  let scheduled = false;
  let inflight: Promise<void> = Promise.resolve();

  const feed = options.websocketUrl === undefined ? undefined : createWebSocketFeed(options.websocketUrl, report);

  function report(error: unknown): void {
    try {
      onError?.(error);
    } catch {
      // the error handler must not break inspection either
    }
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    const run = (): void => {
      scheduled = false;
      void flush();
    };
    if (flushIntervalMs > 0) setTimeout(run, flushIntervalMs).unref?.();
    else setImmediate(run);
  }

  function inspect(event: InspectionEvent): void {
    if (closed) return;
    try {
      const at = clock.now();
      switch (event.type) {
        case '@xstate.actor':
          pending.push({ kind: 'actor', actorRef: event.actorRef, rootId: event.rootId, at });
          break;
        case '@xstate.snapshot': {
          const entry: Pending = { kind: 'snapshot', actorRef: event.actorRef, rootId: event.rootId, snapshot: event.snapshot, event: event.event, at };
          const index = snapshotAt.get(event.actorRef.sessionId);
          if (index === undefined) {
            snapshotAt.set(event.actorRef.sessionId, pending.length);
            pending.push(entry);
          } else pending[index] = entry;
          break;
        }
        case '@xstate.event':
          if (!internalEvents && isPlumbing(event.event.type)) return;
          pending.push({ kind: 'event', actorRef: event.actorRef, rootId: event.rootId, event: event.event, sourceId: event.sourceRef?.sessionId, at });
          break;
        default:
          return;
      }
      schedule();
    } catch (error) {
      report(error);
    }
  }

  function toMessage(entry: Pending): InspectionMessage | undefined {
    const common = {
      sessionId: entry.actorRef.sessionId,
      rootId: entry.rootId,
      createdAt: String(entry.at),
      id: `${processId}:${++sequence}`,
      _version: STATELY_INSPECT_VERSION,
    };
    switch (entry.kind) {
      case 'actor': {
        const actorRef = entry.actorRef as unknown as AnyActorRef & { logic?: { config?: unknown } };
        const { name, machine, parentId } = identify(entry.actorRef);
        return {
          ...common,
          type: '@xstate.actor',
          name,
          definition: definitionOf(actorRef.logic?.config, name),
          parentId,
          snapshot: summarizeSnapshot(actorRef.getSnapshot()),
          machine,
        };
      }
      case 'snapshot':
        return { ...common, type: '@xstate.snapshot', snapshot: summarizeSnapshot(entry.snapshot), event: summarizeEvent(entry.event), actor: identify(entry.actorRef) };
      case 'event':
        return { ...common, type: '@xstate.event', event: summarizeEvent(entry.event), sourceId: entry.sourceId };
    }
  }

  function definitionOf(config: unknown, name: string): string | undefined {
    if (config === null || typeof config !== 'object') return JSON.stringify({ id: name });
    if (!definitions.has(config)) definitions.set(config, serializeDefinition(config));
    return definitions.get(config);
  }

  async function flush(): Promise<void> {
    const batch = pending;
    pending = [];
    snapshotAt = new Map();
    if (batch.length === 0) return inflight;
    const publishes: Promise<void>[] = [];
    for (const entry of batch) {
      let message: InspectionMessage | undefined;
      try {
        message = toMessage(entry);
      } catch (error) {
        report(error);
      }
      if (message === undefined) continue;
      publishes.push(bus.publish(`${base}.${subjectToken(message.sessionId)}`, message).catch(report));
      feed?.send(message);
    }
    inflight = Promise.all([inflight, ...publishes]).then(() => undefined);
    return inflight;
  }

  return {
    processId,
    subjects: `${base}.>`,
    inspect,
    flush,
    async close() {
      if (closed) return inflight;
      await flush();
      closed = true;
      feed?.close();
      return inflight;
    },
  };
}

/** An actor's name (its id, or its machine's id), machine (or invoked source) and parent. */
function identify(ref: ActorRefLike): InspectedSnapshotEvent['actor'] {
  const actorRef = ref as unknown as AnyActorRef & { logic?: unknown; src?: unknown; _parent?: AnyActorRef };
  const machine = isMachineLogic(actorRef.logic) ? String(actorRef.logic.id) : typeof actorRef.src === 'string' ? actorRef.src : 'actor';
  const name = actorRef.id === actorRef.sessionId && isMachineLogic(actorRef.logic) ? machine : actorRef.id;
  return { name, machine, parentId: actorRef._parent?.sessionId };
}

function isPlumbing(type: string): boolean {
  return type === 'xstate.init' || type.startsWith('xstate.snapshot.') || type.startsWith('xstate.promise.');
}

function isMachineLogic(logic: unknown): logic is { id: string; config: object; root: unknown } {
  return logic !== null && typeof logic === 'object' && 'root' in logic && 'config' in logic && 'id' in logic;
}

/**
 * A machine config as JSON, the way @statelyai/inspect sends it (functions become `{ type: name }`),
 * less what a chart does not need and may hold secrets: `context`, `input`, `output` and action
 * `params` anywhere, and values under secret-named keys.
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

// Static action params stay (`{ type: 'run', params: { step: 'decide' } }`): the machine's author wrote them.
const DROPPED_FROM_DEFINITIONS = new Set(['context', 'input', 'output']);
const MAX_STRING = 200;
const MAX_FIELDS = 12;

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

/** An event's type and a shallow summary of its other fields. */
export function summarizeEvent(event: unknown): InspectedEvent {
  if (event === null || typeof event !== 'object') return { type: typeof event === 'string' ? event : '' };
  const e = event as Record<string, unknown>;
  const type = typeof e.type === 'string' ? e.type : '';
  const fields = shallow(Object.fromEntries(Object.entries(e).filter(([key]) => key !== 'type')), 1);
  return { ...(fields !== null && typeof fields === 'object' && !Array.isArray(fields) ? fields : {}), type };
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

function statelyVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@statelyai/inspect');
    const pkg = JSON.parse(readFileSync(new URL('../package.json', pathToFileURL(entry)), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.7.2';
  } catch {
    return '0.7.2';
  }
}

interface WebSocketFeed {
  send(message: InspectionMessage): void;
  close(): void;
}

/**
 * Feeds a @statelyai/inspect WebSocket inspector, loaded only when asked for. Its adapter buffers
 * while disconnected and retries every 5 s; closing stops the retries too.
 */
function createWebSocketFeed(url: string, report: (error: unknown) => void): WebSocketFeed {
  interface Adapter {
    send(event: unknown): void;
    stop(): void;
    ws?: WsLike;
  }
  interface WsLike {
    on?(event: string, listener: () => void): void;
    terminate?(): void;
    close(): void;
    onerror: unknown;
    onclose: unknown;
    onopen: unknown;
  }
  let adapter: Adapter | undefined;
  let closed = false;
  const early: InspectionMessage[] = [];
  const quiet = (ws: WsLike | undefined): void => {
    if (ws === undefined) return;
    ws.onerror = null;
    ws.onclose = null;
    ws.onopen = null;
    ws.on?.('error', () => {});
    try {
      if (ws.terminate) ws.terminate();
      else ws.close();
    } catch {
      // already closed
    }
  };
  import('@statelyai/inspect')
    .then(({ createWebSocketInspector }) => {
      if (closed) return;
      const inspector = createWebSocketInspector({ url, autoStart: false });
      const candidate = inspector.adapter as unknown as Adapter;
      // The adapter reconnects forever on errors: once closed, a reconnect gets a socket that is
      // silenced and terminated at once, which ends the loop.
      let current: WsLike | undefined;
      const inert = { onerror: null, onclose: null, onopen: null, onmessage: null, close() {}, send() {} };
      Object.defineProperty(candidate, 'ws', {
        configurable: true,
        get: () => (closed ? inert : current),
        set: (ws: WsLike) => {
          if (closed) quiet(ws);
          else current = ws;
        },
      });
      try {
        inspector.start();
      } catch (error) {
        report(error);
        return;
      }
      adapter = { send: (event) => candidate.send(event), stop: () => quiet(current) };
      for (const message of early.splice(0)) adapter.send(message);
    })
    .catch(report);
  return {
    send(message) {
      if (closed) return;
      try {
        if (adapter) adapter.send(message);
        else if (early.push(message) > 200) early.shift();
      } catch (error) {
        report(error);
      }
    },
    close() {
      closed = true;
      try {
        adapter?.stop();
      } catch (error) {
        report(error);
      }
    },
  };
}
