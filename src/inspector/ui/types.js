// @ts-check
// The shapes the page reads from the inspector's API, named once for the other modules' JSDoc.
// The chart, actor and thread types are the server's own (type-only imports: nothing is loaded).
export {};

/** @typedef {import('../chartTypes.js').MachineGraph} MachineGraph */
/** @typedef {import('../chartTypes.js').GraphNode} GraphNode */
/** @typedef {import('../chartTypes.js').GraphLayout} GraphLayout */
/** @typedef {import('../chartTypes.js').NodeBox} NodeBox */
/** @typedef {import('../chartTypes.js').EdgeRoute} EdgeRoute */
/** @typedef {import('../chartTypes.js').TextBox} TextBox */
/** @typedef {import('../actorRegistry.js').ActorRecord} ActorRecord */
/** @typedef {import('../actorRegistry.js').ProcessPresence} ProcessPresence */
/** @typedef {import('../../store/threadStore.js').ThreadSummary} ThreadRow */
/** A row's open human request (`ThreadRow['pending']`). @typedef {import('../../store/threadStore.js').PendingRequestSummary} PendingRequest */
/** @typedef {import('../../thread/state.js').ThreadStatus} ThreadStatus */
/** @typedef {import('../../thread/events.js').ThreadEvent} ThreadEvent */
/** @typedef {import('../../thread/events.js').HumanRequest} HumanRequest */
/** @typedef {import('../../thread/events.js').Json} Json */

/** `GET /inspector/api/graph/:machine`. @typedef {{ graph: MachineGraph, layout: GraphLayout }} Chart */

/**
 * A thread as `GET /inspector/api/threads/:id` and the HTTP API answer it (the runtime's `ThreadView`).
 * @typedef {object} ThreadView
 * @property {string} id
 * @property {string} agent
 * @property {ThreadStatus} status
 * @property {number} version
 * @property {number} steps
 * @property {HumanRequest | null} pendingRequest
 * @property {string | undefined} createdAt
 * @property {string | undefined} updatedAt
 * @property {string} [wakeAt] when a sleeping or backing-off thread moves again on its own
 * @property {{ position: number, running: number, maxConcurrent: number }} [queued] the thread waits for a slot (a server that runs it)
 * @property {true} [live] an actor of the server runs it now
 * @property {string} [failure] why a failed thread failed (its failed event, or a human's stop of an escalation)
 * @property {readonly ThreadEvent[]} events
 */

/** `GET /inspector/api/machines`. @typedef {{ machines: string[], threadMachines: Record<string, string> }} Machines */

/**
 * What `GET /agents` lists: an agent or a pipeline (older servers list agents only, without `kind`).
 * @typedef {{ name: string, kind?: 'agent' | 'pipeline', description?: string, inputSchema?: Json }} AgentInfo
 */
