// Publishes a runtime's XState inspection events on the bus, in @statelyai/inspect's wire shape.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { ActorRefLike, AnyActorRef, InspectionEvent } from 'xstate';
import type { Bus } from '../bus/bus.js';
import { systemClock, type Clock } from '../clock.js';
import { DEFAULT_HEARTBEAT_MS, type InspectedSnapshotEvent, type InspectionMessage, type PresenceMessage, type PresenceWorker } from './inspectionMessages.js';
import { serializeDefinition, summarizeEvent, summarizeSnapshot } from './summaries.js';
import { createWebSocketFeed } from './webSocketFeed.js';
import { subjectToken } from '../bus/subject.js';

/** Options of {@link createBusInspector}. */
export interface BusInspectorOptions {
  /** Where inspection events are published. */
  bus: Bus;
  /** Subjects are `<prefix>.inspect.<processId>.<sessionId>`. @default 'switchyard' */
  prefix?: string | undefined;
  /**
   * Names this process in subjects ('.', '*', '>' and whitespace become '_').
   * @default `<hostname>:<pid>`, plus `:<n>` for the n-th inspector created in one process
   */
  processId?: string | undefined;
  /**
   * Also feed a @statelyai/inspect WebSocket inspector at this URL (e.g. `ws://localhost:8080`,
   * served by `createInspectorServer` from `@statelyai/inspect/server`). It gets the same sanitized
   * events; an unreachable URL is retried quietly and never breaks the runtime.
   * @default none
   */
  websocketUrl?: string | undefined;
  /**
   * How long events are gathered before they are published; within one batch only the last
   * snapshot of each actor is sent. 0 publishes on the next turn of the event loop.
   * @default 0
   */
  flushIntervalMs?: number | undefined;
  /**
   * Also publish XState's plumbing events: `xstate.init`, a promise actor's resolve and reject
   * events to itself, and the `xstate.snapshot.<child>` events a parent gets about its children
   * (they repeat what the actor and snapshot events already say). Events that move a machine
   * (`xstate.done.actor.*`, `xstate.error.actor.*`, `xstate.after.*` and every event of yours) are
   * always published.
   * @default false
   */
  internalEvents?: boolean | undefined;
  /**
   * How often this process says it is alive, on `<prefix>.inspect.<processId>` (one small message
   * per interval, whatever the number of actors; a `gone` one on close). Inspectors count a process
   * not heard from for three intervals as gone, its actors as no longer live. 0 sends none:
   * inspectors then count it gone after three default intervals (15 s) without any message of it.
   * @default 5000
   */
  heartbeatMs?: number | undefined;
  /**
   * What this process takes jobs for, said in each heartbeat, so an API process can tell which
   * agents no worker serves. `null` for a process that takes none.
   * @default null
   */
  worker?: PresenceWorker | null | undefined;
  /** Stamps `createdAt`. @default the system clock */
  clock?: Clock | undefined;
  /** Receives publish failures (inspection never throws into the runtime). @default ignore them */
  onError?: ((error: unknown) => void) | undefined;
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
  /**
   * Publishes what is pending and a goodbye, then stops (later events are ignored) and closes the
   * WebSocket feed. Close it after the runtime has stopped, so the actors' stops are published.
   */
  close(): Promise<void>;
}

/** The @statelyai/inspect version whose wire shape the messages follow. */
export const STATELY_INSPECT_VERSION: string = statelyVersion();

export { subjectToken };

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
  const { bus, prefix = 'switchyard', flushIntervalMs = 0, internalEvents = false, heartbeatMs = DEFAULT_HEARTBEAT_MS, clock = systemClock, onError, worker = null } = options;
  instances += 1;
  const processId = subjectToken(options.processId ?? `${hostname()}:${process.pid}${instances > 1 ? `:${instances}` : ''}`);
  const base = `${prefix}.inspect.${processId}`;
  const report = (error: unknown): void => {
    try {
      onError?.(error);
    } catch {
      // the error handler must not break inspection either
    }
  };
  const feed = options.websocketUrl === undefined ? undefined : createWebSocketFeed(options.websocketUrl, report);
  const batch = createBatch(internalEvents);
  const toMessage = messageWriter(processId);
  let closed = false;
  let scheduled = false;
  let inflight: Promise<void> = Promise.resolve();

  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    const run = (): void => {
      scheduled = false;
      void flush();
    };
    if (flushIntervalMs > 0) setTimeout(run, flushIntervalMs).unref?.();
    else setImmediate(run);
  };

  const flush = async (): Promise<void> => {
    const entries = batch.take();
    if (entries.length === 0) return inflight;
    const publishes: Promise<void>[] = [];
    for (const entry of entries) {
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
  };

  const announce = (state: PresenceMessage['state']): Promise<void> => {
    const message: PresenceMessage = { type: '@switchyard.presence', processId, state, intervalMs: heartbeatMs, createdAt: String(clock.now()), worker };
    try {
      return bus.publish(base, message).catch(report);
    } catch (error) {
      report(error);
      return Promise.resolve();
    }
  };
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  if (heartbeatMs > 0) {
    void announce('alive');
    heartbeat = setInterval(() => void announce('alive'), heartbeatMs);
    heartbeat.unref?.();
  }

  return {
    processId,
    subjects: `${base}.>`,
    inspect(event) {
      if (closed) return;
      try {
        if (batch.add(event, clock.now())) schedule();
      } catch (error) {
        report(error);
      }
    },
    flush,
    async close() {
      if (closed) return inflight;
      await flush();
      closed = true;
      if (heartbeat !== undefined) {
        clearInterval(heartbeat);
        await announce('gone');
      }
      feed?.close();
      return inflight;
    },
  };
}

/** An inspection event waiting to be published, with what it needs from the moment it happened. */
type Pending =
  | { kind: 'actor'; actorRef: ActorRefLike; rootId: string | undefined; at: number }
  | { kind: 'snapshot'; actorRef: ActorRefLike; rootId: string | undefined; snapshot: unknown; event: unknown; at: number }
  | { kind: 'event'; actorRef: ActorRefLike; rootId: string | undefined; event: unknown; sourceId: string | undefined; at: number };

/** Events gathered until the next flush; a later snapshot of an actor replaces its earlier one. */
function createBatch(internalEvents: boolean): { add(event: InspectionEvent, at: number): boolean; take(): Pending[] } {
  let pending: Pending[] = [];
  /** Index in `pending` of each actor's snapshot, to replace it with a later one. */
  let snapshotAt = new Map<string, number>();
  return {
    add(event, at) {
      switch (event.type) {
        case '@xstate.actor':
          pending.push({ kind: 'actor', actorRef: event.actorRef, rootId: event.rootId, at });
          return true;
        case '@xstate.snapshot': {
          const entry: Pending = { kind: 'snapshot', actorRef: event.actorRef, rootId: event.rootId, snapshot: event.snapshot, event: event.event, at };
          const index = snapshotAt.get(event.actorRef.sessionId);
          if (index === undefined) {
            snapshotAt.set(event.actorRef.sessionId, pending.length);
            pending.push(entry);
          } else pending[index] = entry;
          return true;
        }
        case '@xstate.event':
          if (!internalEvents && isPlumbing(event.event.type)) return false;
          pending.push({ kind: 'event', actorRef: event.actorRef, rootId: event.rootId, event: event.event, sourceId: event.sourceRef?.sessionId, at });
          return true;
        default:
          return false;
      }
    },
    take() {
      const taken = pending;
      pending = [];
      snapshotAt = new Map();
      return taken;
    },
  };
}

/** Writes pending events as wire messages, numbering them and serializing each machine's definition once. */
function messageWriter(processId: string): (entry: Pending) => InspectionMessage {
  const definitions = new WeakMap<object, string | undefined>();
  let sequence = 0;
  const definitionOf = (config: unknown, name: string): string | undefined => {
    if (config === null || typeof config !== 'object') return JSON.stringify({ id: name });
    if (!definitions.has(config)) definitions.set(config, serializeDefinition(config));
    return definitions.get(config);
  };
  return (entry) => {
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
        const definition = definitionOf(actorRef.logic?.config, name);
        return { ...common, type: '@xstate.actor', name, definition, parentId, snapshot: summarizeSnapshot(actorRef.getSnapshot()), machine };
      }
      case 'snapshot':
        return { ...common, type: '@xstate.snapshot', snapshot: summarizeSnapshot(entry.snapshot), event: summarizeEvent(entry.event), actor: identify(entry.actorRef) };
      case 'event':
        return { ...common, type: '@xstate.event', event: summarizeEvent(entry.event), sourceId: entry.sourceId };
    }
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
