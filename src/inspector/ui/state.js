// @ts-check
// What the page knows: threads (sorted, filtered), the selected thread, live actors and charts.
// Modules read and change it directly; each renders what it owns.

/** @typedef {import('./types.js').ThreadRow} ThreadRow */
/** @typedef {import('./types.js').PendingRequest} PendingRequest */
/** @typedef {import('./types.js').ThreadView} ThreadView */
/** @typedef {import('./types.js').ActorRecord} ActorRecord */
/** @typedef {import('./types.js').Chart} Chart */

/** @typedef {import('./types.js').ThreadStatus} ThreadStatus */

/** Every thread status, in the filter's order, with its colour (the type makes sure none is missing). */
export const STATUS_TONE = /** @type {Record<ThreadStatus, string>} */ ({
  running: '#1d5bd8',
  awaiting_human: '#b45309',
  escalated: '#c2410c',
  backing_off: '#7c3aed',
  sleeping: '#6d4fc7',
  paused: '#5b6478',
  done: '#15803d',
  failed: '#c81e1e',
  cancelled: '#5f6673',
});

/** Actors kept in the page, as the server keeps them. */
const MAX_ACTORS = 2000;

export const state = {
  /** Every thread seen, most recently updated first after {@link sortThreads}. @type {ThreadRow[]} */
  threads: [],
  /** @type {Map<string, ThreadRow>} */
  byId: new Map(),
  /** The threads that pass the filters, in order. @type {ThreadRow[]} */
  filtered: [],
  filter: { status: '', agent: '', text: '' },
  /** @type {string | null} */
  selected: null,
  /** The selected thread with its events, once loaded. @type {ThreadView | null} */
  view: null,
  /** The child the selected pipeline waits on, and the threads down its chain (a child pipeline's own child...): their changes refresh the page. @type {Set<string>} */
  waitingOn: new Set(),
  /** By key (`<processId>/<sessionId>`), least recently updated first. @type {Map<string, ActorRecord>} */
  actors: new Map(),
  /** The latest machine actor of each thread (the last the server saw): the only one listed. @type {Map<string, ActorRecord>} */
  actorByThread: new Map(),
  /** Processes seen, and whether each is live (false once the server counts it gone). @type {Map<string, boolean>} */
  processes: new Map(),
  /** Charts by machine id, loaded once. @type {Map<string, Promise<Chart>>} */
  charts: new Map(),
  /** The machine of each agent's and pipeline's threads. @type {Record<string, string>} */
  threadMachines: {},
};

/**
 * Adds or updates a thread's row; an older version never replaces a newer one. A row without a
 * pending request says the thread waits for none (any more): the one it had goes.
 * @param {ThreadRow} row
 */
export function upsertThread(row) {
  const existing = state.byId.get(row.id);
  if (existing) {
    if ((row.version || 0) < (existing.version || 0)) return;
    Object.assign(existing, row);
    if (!row.pending) dropPending(existing);
    return;
  }
  const copy = { ...row };
  state.byId.set(row.id, copy);
  state.threads.push(copy);
}

/** Most recently updated first, then by id. */
export function sortThreads() {
  state.threads.sort((a, b) => (b.updatedAt || '').localeCompare(a.updatedAt || '') || (a.id < b.id ? -1 : 1));
}

/**
 * A thread's row from its view.
 * @param {ThreadView} view
 * @returns {ThreadRow}
 */
export function rowOfView(view) {
  const pending = pendingOfView(view);
  return { id: view.id, agent: view.agent, status: view.status, version: view.version, createdAt: view.createdAt ?? '', updatedAt: view.updatedAt ?? '', ...(pending ? { pending } : {}) };
}

/**
 * The request a thread's view waits for, as its list row carries it (asked when its `human_request` was journaled).
 * @param {ThreadView} view
 * @returns {PendingRequest | undefined}
 */
function pendingOfView(view) {
  const req = view.pendingRequest;
  if (!req) return undefined;
  const asked = view.events.findLast((e) => e.type === 'human_request' && e.data.requestId === req.requestId);
  const { requestId, kind, question, tool, args } = req;
  return { requestId, kind, question, ...(tool === undefined ? {} : { tool }), ...(args === undefined ? {} : { args }), at: asked?.at ?? view.updatedAt ?? '' };
}

/**
 * Forgets the request a row waited for.
 * @param {ThreadRow} row
 */
function dropPending(row) {
  delete (/** @type {{ pending?: PendingRequest }} */ (row)).pending;
}

/**
 * Whether a thread in `status` can still wait for a human (a paused one keeps its open request).
 * @param {ThreadRow['status']} status
 */
function mayWait(status) {
  return status === 'awaiting_human' || status === 'escalated' || status === 'paused';
}

/**
 * Records an actor; a machine actor of a thread also updates that thread's row when it is newer.
 * @param {ActorRecord} actor
 */
export function applyActor(actor) {
  state.actors.delete(actor.key);
  state.actors.set(actor.key, actor);
  if (state.actors.size > MAX_ACTORS) {
    const oldest = state.actors.keys().next().value;
    if (oldest !== undefined) state.actors.delete(oldest);
  }
  // A process first heard of through its actor is live; the server says when it goes.
  if (!state.processes.has(actor.processId)) state.processes.set(actor.processId, true);
  if (!actor.threadId || actor.value == null) return;
  const previous = state.actorByThread.get(actor.threadId);
  if (!previous || previous.key === actor.key || actor.order > previous.order) state.actorByThread.set(actor.threadId, actor);
  if (actor.version == null || !actor.threadStatus) return;
  const updatedAt = new Date(actor.updatedAt).toISOString();
  const row = state.byId.get(actor.threadId);
  const status = /** @type {ThreadRow['status']} */ (actor.threadStatus);
  if (!row) upsertThread({ id: actor.threadId, agent: actor.agent || '?', status, version: actor.version, createdAt: updatedAt, updatedAt });
  else if (actor.version > (row.version || 0)) {
    Object.assign(row, { status, version: actor.version, updatedAt });
    // Answered (its actor moved on): the request goes now, not when the thread's own row arrives.
    if (!mayWait(status)) dropPending(row);
  }
}

/**
 * Whether a later actor runs the actor's thread (a thread that rested, its actor evicted, resumed
 * on a new one): the thread is shown as that one.
 * @param {ActorRecord} actor
 */
export function isSuperseded(actor) {
  const latest = actor.threadId ? state.actorByThread.get(actor.threadId) : undefined;
  return latest !== undefined && latest.key !== actor.key && state.actors.has(latest.key);
}

/**
 * Forgets a thread the server deleted: its row, its actors and the actors they spawned.
 * @param {string} id
 */
export function forgetThread(id) {
  const row = state.byId.get(id);
  if (row) {
    state.byId.delete(id);
    state.threads.splice(state.threads.indexOf(row), 1);
  }
  const gone = new Set();
  for (const actor of state.actors.values()) if (actor.threadId === id) gone.add(actor.key);
  // Their children (the steps, a model call) name no thread: they go by their parent.
  for (let grew = gone.size > 0; grew; ) {
    grew = false;
    for (const actor of state.actors.values()) {
      if (!gone.has(actor.key) && actor.parentKey !== null && gone.has(actor.parentKey)) {
        gone.add(actor.key);
        grew = true;
      }
    }
  }
  for (const key of gone) state.actors.delete(key);
  state.actorByThread.delete(id);
}

/** Forgets the actors: the stream's first `actors` event holds the recent ones (again, after a reconnect). */
export function forgetActors() {
  state.actors.clear();
  state.actorByThread.clear();
}

/**
 * The machine that runs a thread: its live actor's, else the one its agent runs on.
 * @param {ThreadView} view
 */
export function machineOf(view) {
  const actor = state.actorByThread.get(view.id);
  if (actor && actor.machine && actor.value != null) return actor.machine;
  return state.threadMachines[view.agent] || 'agent';
}
