// The wire shape of inspection messages: what travels on `<prefix>.inspect.<processId>.<sessionId>`.
// Types (and the default heartbeat interval) only, so the inspector page's type-check can read them
// without Node.
import type { Json } from '../thread/events.js';

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
  /** switchyard's addition: the machine's id (`agent`, `agent:<name>`, `supervisor`) or the invoked source (`decide`). */
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

/**
 * How often a process's bus inspector says it is alive unless told otherwise (ms); inspectors assume
 * it for a process until they hear its own interval.
 */
export const DEFAULT_HEARTBEAT_MS = 5000;

/**
 * switchyard's addition, on `<prefix>.inspect.<processId>` (no session token): a process's bus
 * inspector says it is alive every `intervalMs`, and `gone` when it closes. An inspector counts a
 * process not heard from for three intervals as gone, and its actors as no longer live.
 */
export interface PresenceMessage {
  readonly type: '@switchyard.presence';
  readonly processId: string;
  readonly state: 'alive' | 'gone';
  /** How often the process says it is alive (ms). */
  readonly intervalMs: number;
  /** Epoch milliseconds, as a string. */
  readonly createdAt: string;
  /**
   * What the process takes jobs for: its agents and pipelines, and the KV bucket of the threads
   * it runs; `null` for a process that takes none (an API process). Absent from processes of
   * versions before it was added.
   */
  readonly worker?: PresenceWorker | null;
}

/** What a worker announces it serves, in its {@link PresenceMessage}. */
export interface PresenceWorker {
  readonly agents: readonly string[];
  readonly bucket: string;
}
