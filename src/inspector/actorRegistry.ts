import type { Json } from '../thread/events.js';
import type { InspectedSnapshot, InspectionMessage } from './inspectionMessages.js';

/** One actor seen on the bus, as the inspector page lists it. */
export interface ActorRecord {
  /** `<processId>/<sessionId>`: unique across processes. */
  readonly key: string;
  readonly processId: string;
  readonly sessionId: string;
  /** The parent's key, when the actor has a parent. */
  readonly parentKey: string | null;
  /** The actor's id: the thread id for agent actors. */
  readonly name: string;
  /** The machine's id (`agent`, `supervisor`) or the invoked source (`decide`); `''` when unknown. */
  readonly machine: string;
  /** The state value (machines only). */
  readonly value: Json;
  readonly status: InspectedSnapshot['status'];
  /** Agent actors: their thread, its derived status and version. */
  readonly threadId?: string;
  readonly agent?: string;
  readonly threadStatus?: string;
  readonly version?: number;
  /** The context summary the actor published. */
  readonly context?: { readonly [key: string]: Json };
  /** The type of the last event that changed it. */
  readonly lastEvent?: string;
  /** Epoch ms of the first and the latest message. */
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Options of {@link createActorRegistry}. */
export interface ActorRegistryOptions {
  /** Actors kept; the least recently updated go first. @default 2000 */
  maxActors?: number;
  /** Machine definitions kept (one per machine id). @default 200 */
  maxDefinitions?: number;
}

/** Live and recent actors of every process, folded from inspection messages. */
export interface ActorRegistry {
  /** Folds one message from `<prefix>.inspect.<processId>.<sessionId>`. Returns the changed record. */
  apply(processId: string, message: InspectionMessage): ActorRecord | undefined;
  /** Most recently updated first. */
  list(options?: { limit?: number; machine?: string; threadId?: string }): ActorRecord[];
  get(key: string): ActorRecord | undefined;
  /** The latest definition (JSON) published for a machine id. */
  definition(machine: string): string | undefined;
  /** Process ids seen, with the time of their latest message, most recent first. */
  processes(): { processId: string; actors: number; lastSeen: number }[];
  readonly size: number;
}

/**
 * Keeps the {@link ActorRecord}s of the `maxActors` most recently updated actors (a Map in update
 * order: an update moves a record to the end, the oldest are dropped) and one definition per machine.
 */
export function createActorRegistry(options: ActorRegistryOptions = {}): ActorRegistry {
  const { maxActors = 2000, maxDefinitions = 200 } = options;
  const actors = new Map<string, ActorRecord>();
  const definitions = new Map<string, string>();
  const seen = new Map<string, number>();
  /** Moves a key to the end of a Map kept in update order, dropping the oldest beyond `max`. */
  const touch = <V>(map: Map<string, V>, key: string, value: V, max: number): void => {
    map.delete(key);
    map.set(key, value);
    while (map.size > max) map.delete(map.keys().next().value!);
  };
  return {
    apply(processId, message) {
      if (message === null || typeof message !== 'object' || typeof message.sessionId !== 'string') return undefined;
      if (message.type === '@xstate.actor' && typeof message.machine === 'string' && typeof message.definition === 'string' && message.definition.includes('"states"')) {
        touch(definitions, message.machine, message.definition, maxDefinitions);
      }
      const record = fold(actors.get(`${processId}/${message.sessionId}`), processId, message);
      if (record === undefined) return undefined;
      touch(actors, record.key, record, maxActors);
      touch(seen, record.processId, record.updatedAt, maxActors);
      return record;
    },
    list(opts = {}) {
      const { limit = maxActors, machine, threadId } = opts;
      const out: ActorRecord[] = [];
      const all = [...actors.values()];
      for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
        const record = all[i]!;
        if (machine !== undefined && record.machine !== machine) continue;
        if (threadId !== undefined && record.threadId !== threadId) continue;
        out.push(record);
      }
      return out;
    },
    get: (key) => actors.get(key),
    definition: (machine) => definitions.get(machine),
    processes() {
      const counts = new Map<string, number>();
      for (const record of actors.values()) counts.set(record.processId, (counts.get(record.processId) ?? 0) + 1);
      return [...seen.entries()].reverse().map(([processId, lastSeen]) => ({ processId, actors: counts.get(processId) ?? 0, lastSeen }));
    },
    get size() {
      return actors.size;
    },
  };
}

/** An actor's record after one more message; `undefined` when the message changes nothing shown. */
function fold(existing: ActorRecord | undefined, processId: string, message: InspectionMessage): ActorRecord | undefined {
  const at = Number(message.createdAt) || Date.now();
  const base: ActorRecord = existing ?? {
    key: `${processId}/${message.sessionId}`,
    processId,
    sessionId: message.sessionId,
    parentKey: null,
    name: message.sessionId,
    machine: '',
    value: null,
    status: 'active',
    createdAt: at,
    updatedAt: at,
  };
  const updatedAt = Math.max(base.updatedAt, at);
  const parentKey = (parentId: unknown): string | null => (typeof parentId === 'string' ? `${processId}/${parentId}` : null);
  switch (message.type) {
    case '@xstate.actor': {
      const record: ActorRecord = {
        ...base,
        name: typeof message.name === 'string' ? message.name : base.name,
        machine: typeof message.machine === 'string' ? message.machine : base.machine,
        parentKey: parentKey(message.parentId),
        updatedAt,
      };
      return message.snapshot ? withSnapshot(record, message.snapshot) : record;
    }
    case '@xstate.snapshot': {
      if (!message.snapshot) return undefined;
      // Missed the actor's @xstate.actor event (subscribed later): name it from the snapshot.
      const known = existing !== undefined && existing.machine !== '';
      const who = !known && message.actor ? { name: message.actor.name, machine: message.actor.machine, parentKey: parentKey(message.actor.parentId) } : {};
      const record = withSnapshot({ ...base, ...who, updatedAt }, message.snapshot);
      return { ...record, ...(message.event?.type ? { lastEvent: message.event.type } : {}) };
    }
    case '@xstate.event':
      // Events change nothing an actor list shows; they only mark the actor as seen.
      return existing === undefined ? undefined : { ...existing, updatedAt };
    default:
      return undefined;
  }
}

/** A record with what a snapshot says: state value, status, context summary, and its thread's. */
function withSnapshot(record: ActorRecord, snapshot: InspectedSnapshot): ActorRecord {
  const context = snapshot.context;
  const thread =
    context && typeof context.threadId === 'string'
      ? {
          threadId: context.threadId,
          ...(typeof context.agent === 'string' ? { agent: context.agent } : {}),
          ...(typeof context.status === 'string' ? { threadStatus: context.status } : {}),
          ...(typeof context.version === 'number' ? { version: context.version } : {}),
        }
      : {};
  return { ...record, value: snapshot.value ?? record.value, status: snapshot.status, ...(context ? { context } : {}), ...thread };
}
