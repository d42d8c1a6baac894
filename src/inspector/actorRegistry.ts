import type { Json } from '../thread/events.js';
import { DEFAULT_HEARTBEAT_MS, type InspectedSnapshot, type InspectionMessage, type PresenceMessage } from './inspectionMessages.js';

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
  /**
   * The order in which the registry first saw the actor (a count, from 1). Of the actors of one
   * thread (a thread that rested, its actor evicted, runs on a new one), the last seen is the
   * thread's: only it is listed. The sender's `createdAt` would not do: processes' clocks differ.
   */
  readonly order: number;
  /**
   * Shown stopped because its process went (a goodbye, or its heartbeats missed) while it was
   * active, not because it stopped: what it ran runs nowhere now (a worker killed mid-tool-call; its
   * thread's job comes back after the queue's ack wait). Absent once its process is heard from again.
   */
  readonly lost?: true;
}

/** A process that went (its goodbye, or its heartbeats missed), or was heard from again. */
export interface ProcessPresence {
  readonly processId: string;
  readonly live: boolean;
}

/**
 * The part of the runtime's `Clock` (src/clock.ts) the registry uses, spelled here: the page's
 * type-check reads this file without Node's types, which clock.ts needs. A `Clock` (xstate's
 * `SimulatedClock` too) is one.
 */
export interface RegistryClock {
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

const realClock: RegistryClock = {
  now: () => Date.now(),
  setTimeout: (fn, timeout) => setTimeout(fn, timeout),
  clearTimeout: (id) => clearTimeout(id as Parameters<typeof clearTimeout>[0]),
};

/** Options of {@link createActorRegistry}. */
export interface ActorRegistryOptions {
  /** Actors kept; the least recently updated go first. @default 2000 */
  maxActors?: number | undefined;
  /** Machine definitions kept (one per machine id). @default 200 */
  maxDefinitions?: number | undefined;
  /** Heartbeats a process may miss before it counts as gone. @default 3 */
  missedHeartbeats?: number | undefined;
  /** Times presence and arms the expiry timers. @default the system clock */
  clock?: RegistryClock | undefined;
  /**
   * Told when a process goes (its goodbye, or its heartbeats missed), with its actors that were
   * live and are now shown stopped. @default none
   */
  onGone?: ((processId: string, records: ActorRecord[]) => void) | undefined;
  /**
   * Told when a process that was gone is heard from again: it is live again, and so are the actors
   * its going showed stopped (`records`, as they were before; not those that stopped themselves).
   * @default none
   */
  onLive?: ((processId: string, records: ActorRecord[]) => void) | undefined;
}

/** Live and recent actors of every process, folded from inspection messages. */
export interface ActorRegistry {
  /** Folds one message from `<prefix>.inspect.<processId>.<sessionId>`. Returns the changed record. */
  apply(processId: string, message: InspectionMessage): ActorRecord | undefined;
  /** Most recently updated first; a thread's earlier actors (see {@link ActorRecord.order}) are left out. */
  list(options?: { limit?: number; machine?: string; threadId?: string }): ActorRecord[];
  get(key: string): ActorRecord | undefined;
  /** The latest definition (JSON) published for a machine id. */
  definition(machine: string): string | undefined;
  /**
   * Folds a process's {@link PresenceMessage}: `alive` (re)arms its expiry (`missedHeartbeats`
   * intervals without a word from it), `gone` ends it at once. Returns the actors it stopped.
   */
  presence(processId: string, message: PresenceMessage): ActorRecord[];
  /**
   * Drops the actors of a deleted thread, and the actors they spawned: a deleted thread is listed
   * nowhere, the inspector included. Returns how many records went.
   */
  forgetThread(threadId: string): number;
  /**
   * Process ids seen, with the time of their latest message, most recent first; `live` is false
   * once a process said goodbye or missed its heartbeats (until it is heard from again).
   */
  processes(): { processId: string; actors: number; lastSeen: number; live: boolean }[];
  /** Disarms the expiry timers. */
  close(): void;
  readonly size: number;
}

/** What the registry knows of a process's presence. */
interface Presence {
  live: boolean;
  /** Receiver's clock: the sender's may be skewed. */
  lastHeard: number;
  /**
   * Its heartbeat interval: the default until its heartbeat says otherwise (a process killed before
   * any of its heartbeats arrived must expire too); 0 when it announced none (never expired).
   */
  intervalMs: number;
  timer: unknown;
  /**
   * The keys of the actors its going showed stopped (they were active): a process heard from again
   * was not gone after all (its first heartbeat missed, a long interval assumed short), and they are
   * active again. Actors that stopped themselves are not among them.
   */
  silenced: Set<string>;
}

/**
 * Keeps the {@link ActorRecord}s of the `maxActors` most recently updated actors (a Map in update
 * order: an update moves a record to the end, the oldest are dropped) and one definition per machine.
 *
 * Presence: a process not heard from (by any message) for `missedHeartbeats` of its heartbeat
 * intervals, or that says goodbye, is gone: its live actors are shown stopped. Until a heartbeat of
 * it arrives, its interval is taken to be the default (5 s). A gone process heard from again is
 * live, and the actors its going stopped are active again, as they were. One timer per process,
 * re-armed only when it fires (being heard only stamps the time).
 */
export function createActorRegistry(options: ActorRegistryOptions = {}): ActorRegistry {
  const { maxActors = 2000, maxDefinitions = 200, missedHeartbeats = 3, clock = realClock, onGone, onLive } = options;
  const actors = new Map<string, ActorRecord>();
  /** The key of each thread's latest actor, in update order as `actors`. */
  const latestOfThread = new Map<string, string>();
  let order = 0;
  const definitions = new Map<string, string>();
  const seen = new Map<string, number>();
  const presences = new Map<string, Presence>();
  /** Moves a key to the end of a Map kept in update order, dropping the oldest beyond `max`. */
  const touch = <V>(map: Map<string, V>, key: string, value: V, max: number): void => {
    map.delete(key);
    map.set(key, value);
    while (map.size > max) map.delete(map.keys().next().value!);
  };
  const disarm = (presence: Presence): void => {
    if (presence.timer !== undefined) clock.clearTimeout(presence.timer);
    presence.timer = undefined;
  };
  const arm = (processId: string, presence: Presence, delayMs: number): void => {
    disarm(presence);
    const timer = clock.setTimeout(() => {
      presence.timer = undefined;
      const deadline = presence.lastHeard + missedHeartbeats * presence.intervalMs;
      const now = clock.now();
      if (now < deadline) arm(processId, presence, deadline - now);
      else markGone(processId, presence);
    }, delayMs);
    (timer as { unref?: () => void } | null)?.unref?.();
    presence.timer = timer;
  };
  /** Marks a process as heard from now; the first word of a process creates its presence. */
  const heard = (processId: string): Presence => {
    let presence = presences.get(processId);
    if (presence === undefined) {
      presence = { live: true, lastHeard: clock.now(), intervalMs: DEFAULT_HEARTBEAT_MS, timer: undefined, silenced: new Set() };
      presences.set(processId, presence);
      arm(processId, presence, missedHeartbeats * presence.intervalMs);
      // Bounded as the actors are: the processes of long-gone restarts go first.
      while (presences.size > maxActors) {
        const [oldest, old] = presences.entries().next().value!;
        disarm(old);
        presences.delete(oldest);
      }
    }
    presence.lastHeard = clock.now();
    if (!presence.live) {
      presence.live = true;
      if (presence.intervalMs > 0) arm(processId, presence, missedHeartbeats * presence.intervalMs);
      const revived = revive(presence);
      tell(() => onLive?.(processId, revived));
    }
    return presence;
  };
  /** The actors its going stopped, active again (those since forgotten or evicted stay so). */
  const revive = (presence: Presence): ActorRecord[] => {
    const now = clock.now();
    const revived: ActorRecord[] = [];
    for (const key of presence.silenced) {
      const record = actors.get(key);
      if (record?.status === 'stopped') revived.push({ ...withoutLost(record), status: 'active', updatedAt: Math.max(record.updatedAt, now) });
    }
    presence.silenced.clear();
    for (const record of revived) touch(actors, record.key, record, maxActors);
    return revived;
  };
  const markGone = (processId: string, presence: Presence): ActorRecord[] => {
    disarm(presence);
    if (!presence.live) return [];
    presence.live = false;
    const now = clock.now();
    const stopped: ActorRecord[] = [];
    for (const record of actors.values()) {
      if (record.processId === processId && record.status === 'active') stopped.push({ ...record, status: 'stopped', updatedAt: Math.max(record.updatedAt, now), lost: true });
    }
    for (const record of stopped) {
      touch(actors, record.key, record, maxActors);
      presence.silenced.add(record.key);
    }
    tell(() => onGone?.(processId, stopped));
    return stopped;
  };
  /** Whether a later actor of the record's thread is known (the thread is listed as that one). */
  const superseded = (record: ActorRecord): boolean => {
    const latest = record.threadId === undefined ? undefined : latestOfThread.get(record.threadId);
    return latest !== undefined && latest !== record.key && actors.has(latest);
  };
  return {
    presence(processId, message) {
      if (message === null || typeof message !== 'object') return [];
      const presence = heard(processId);
      if (message.state === 'gone') return markGone(processId, presence);
      if (message.state !== 'alive') return [];
      const intervalMs = announcedInterval(message.intervalMs);
      if (intervalMs !== presence.intervalMs) {
        presence.intervalMs = intervalMs;
        if (intervalMs === 0) disarm(presence);
        else arm(processId, presence, missedHeartbeats * intervalMs);
      } else if (intervalMs > 0 && presence.timer === undefined) arm(processId, presence, missedHeartbeats * intervalMs);
      return [];
    },
    apply(processId, message) {
      if (message === null || typeof message !== 'object' || typeof message.sessionId !== 'string') return undefined;
      heard(processId);
      if (message.type === '@xstate.actor' && typeof message.machine === 'string' && typeof message.definition === 'string' && message.definition.includes('"states"')) {
        touch(definitions, message.machine, message.definition, maxDefinitions);
      }
      const existing = actors.get(`${processId}/${message.sessionId}`);
      const record = fold(existing, processId, message, existing?.order ?? order + 1);
      if (record === undefined) return undefined;
      if (existing === undefined) order = record.order;
      touch(actors, record.key, record, maxActors);
      touch(seen, record.processId, record.updatedAt, maxActors);
      if (record.threadId !== undefined) {
        const latest = actors.get(latestOfThread.get(record.threadId) ?? '');
        touch(latestOfThread, record.threadId, latest === undefined || record.order > latest.order ? record.key : latest.key, maxActors);
      }
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
        if (superseded(record)) continue;
        out.push(record);
      }
      return out;
    },
    forgetThread(threadId) {
      const gone = new Set<string>();
      for (const record of actors.values()) if (record.threadId === threadId) gone.add(record.key);
      // Their children (the steps, a model call) name no thread: they go by their parent.
      for (let grew = gone.size > 0; grew; ) {
        grew = false;
        for (const record of actors.values()) {
          if (!gone.has(record.key) && record.parentKey !== null && gone.has(record.parentKey)) {
            gone.add(record.key);
            grew = true;
          }
        }
      }
      for (const key of gone) actors.delete(key);
      latestOfThread.delete(threadId);
      return gone.size;
    },
    get: (key) => actors.get(key),
    definition: (machine) => definitions.get(machine),
    processes() {
      const counts = new Map<string, number>();
      for (const record of actors.values()) counts.set(record.processId, (counts.get(record.processId) ?? 0) + 1);
      return [...seen.entries()].reverse().map(([processId, lastSeen]) => ({ processId, actors: counts.get(processId) ?? 0, lastSeen, live: presences.get(processId)?.live ?? true }));
    },
    close() {
      for (const presence of presences.values()) disarm(presence);
    },
    get size() {
      return actors.size;
    },
  };
}

/** Calls the owner's listener. */
function tell(listener: () => void): void {
  try {
    listener();
  } catch {
    // a listener's failure must not break the registry
  }
}

/**
 * An actor's record after one more message (`order` names a new one); `undefined` when the message
 * changes nothing shown.
 */
function fold(existing: ActorRecord | undefined, processId: string, message: InspectionMessage, order: number): ActorRecord | undefined {
  const at = Number(message.createdAt) || Date.now();
  // A word of its own: it is not lost (its process's presence, forgotten meanwhile, may not revive it).
  const base: ActorRecord = (existing && withoutLost(existing)) ?? {
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
    order,
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

/** The record without its {@link ActorRecord.lost} mark. */
function withoutLost(record: ActorRecord): ActorRecord {
  if (record.lost === undefined) return record;
  const { lost: _lost, ...rest } = record;
  return rest;
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

/**
 * The heartbeat interval a presence message announces: a positive number, or 0 (a process that
 * sends no heartbeats: never expired). Anything else (missing, not a number, negative, infinite) is
 * no promise to stay quiet: the default, so that process expires as one never heard from does.
 */
function announcedInterval(value: unknown): number {
  if (value === 0) return 0;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : DEFAULT_HEARTBEAT_MS;
}
