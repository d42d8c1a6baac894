// @ts-check
// The selected thread: its header and figures, the pending request, its statechart (the machine
// that runs it, with the active state highlighted live) and its timeline.
import { loadChart, loadThread, loadThreadIfAny } from './api.js';
import { $, count, deadlineTime, duration, el, statusPill } from './dom.js';
import { pendingCard } from './pending.js';
import { drawChart, highlightChart } from './statechart.js';
import { machineOf, rowOfView, state, STATUS_TONE, upsertThread } from './state.js';
import { refreshList, renderList } from './threadList.js';
import { clearTimeline, delegationOf, renderTimeline, threadLink } from './timeline.js';

/** @typedef {import('./types.js').ThreadView} ThreadView */
/** @typedef {import('./types.js').ActorRecord} ActorRecord */
/** @typedef {import('./types.js').Json} Json */
/** @typedef {import('./types.js').ThreadStatus} ThreadStatus */

/** The state a thread rests in, when no actor holds it, by its status. */
const STATE_OF_STATUS = /** @type {Partial<Record<ThreadStatus, string>>} */ ({
  awaiting_human: 'awaitingHuman',
  escalated: 'escalated',
  paused: 'paused',
  backing_off: 'backingOff',
  sleeping: 'sleeping',
  done: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
});

/**
 * Answers sent from this page that the server refused (409), by thread: the notice stays on the
 * thread's view (the request's card is gone once the page learns the request was answered).
 * @type {Map<string, { requestId: string, message: string }>}
 */
const refusedAnswers = new Map();

/** Figures of time since a moment (`data-since`, epoch ms), kept current every second. */
setInterval(() => {
  for (const node of document.querySelectorAll('[data-since]')) {
    node.textContent = duration(Date.now() - Number(node.getAttribute('data-since')));
  }
}, 1000);

let loading = false;
let stale = false;
/** Resolves once the machines of agents are known (the chart waits for it). @type {Promise<unknown>} */
let machinesKnown = Promise.resolve();

/**
 * @param {Promise<unknown>} known
 */
export function waitForMachines(known) {
  machinesKnown = known.catch(() => undefined);
}

/**
 * Shows a machine's statechart on its own, without a thread (`#machine=<id>`).
 * @param {string} machine
 */
export function showMachine(machine) {
  state.selected = null;
  state.view = null;
  history.replaceState(null, '', `${location.pathname}${location.search}#machine=${encodeURIComponent(machine)}`);
  renderList();
  const head = el('div', { class: 'thread-head' }, [
    el('div', {}, [el('h1', { id: 'machine-title', text: machine }), el('div', { class: 'sub', text: 'statechart, as laid out for every thread it runs' })]),
  ]);
  $('#detail').replaceChildren(head, chartCard());
  $('#current-state').hidden = true;
  clearTimeline();
  void showChart(machine, () => true);
}

/** Whether the chart is shrunk to fit its panel (its text may get small) rather than drawn at its own size. */
let fitChart = false;

/** The card the statechart is drawn in. */
function chartCard() {
  const chart = el('div', { id: 'chart', class: fitChart ? 'fit' : '' });
  const size = el('button', { type: 'button', id: 'chart-size', 'aria-pressed': String(fitChart), title: 'shrink the chart into the panel, or draw it at its own size (scrolling)', text: 'fit' });
  size.addEventListener('click', () => {
    fitChart = !fitChart;
    chart.classList.toggle('fit', fitChart);
    size.setAttribute('aria-pressed', String(fitChart));
  });
  return el('section', { class: 'card', id: 'chart-card' }, [
    el('h2', {}, ['Statechart', el('span', { id: 'current-state', class: 'none', text: '–' }), el('span', { class: 'liveness', id: 'liveness' }), el('span', { class: 'right machine-name', id: 'chart-machine' }), size]),
    chart,
  ]);
}

/**
 * Selects a thread: marks it in the list and the address, and loads it.
 * @param {string} id
 */
export function select(id) {
  if (state.selected !== id) {
    state.selected = id;
    state.view = null;
  }
  history.replaceState(null, '', `${location.pathname}${location.search}#thread=${encodeURIComponent(id)}`);
  renderList();
  void refreshView();
}

/** Loads the selected thread again (once at a time; a request meanwhile loads it once more after). */
export async function refreshView() {
  const id = state.selected;
  if (!id) return;
  if (loading) {
    stale = true;
    return;
  }
  loading = true;
  try {
    const view = await loadThread(id);
    if (state.selected === id) show(view);
  } catch (error) {
    if (state.selected === id) notLoaded(id, error);
  } finally {
    loading = false;
    if (stale) {
      stale = false;
      void refreshView();
    }
  }
}

/**
 * Says the selected thread could not be loaded, and shows nothing of another: no view (its next
 * change, or the stream's reconnection, loads it again), no timeline.
 * @param {string} id
 * @param {unknown} error
 */
function notLoaded(id, error) {
  state.view = null;
  state.waitingOn = new Set();
  $('#detail').replaceChildren(el('div', { class: 'empty', text: `Could not load ${id}: ${error instanceof Error ? error.message : String(error)}` }));
  clearTimeline();
}

/**
 * Shows a thread's view (loaded, or answered by the server after an action).
 * @param {ThreadView} view
 */
export function show(view) {
  state.view = view;
  upsertThread(rowOfView(view));
  refreshList();
  renderDetail(view);
}

/**
 * @param {ThreadView} view
 */
function renderDetail(view) {
  const refused = (/** @type {string} */ requestId, /** @type {string} */ message) => {
    refusedAnswers.set(view.id, { requestId, message });
    if (state.selected === view.id) void refreshView();
  };
  const pending = view.pendingRequest ? pendingCard(view, view.pendingRequest, (next) => state.selected === view.id && show(next), refused) : null;
  const typed = typedInCard(view.pendingRequest?.requestId);
  const child = openDelegation(view);
  state.waitingOn = new Set(child ? [child.threadId] : []);
  $('#detail').replaceChildren(header(view), noticeCard(view) ?? document.createComment('no notice'), pending ?? document.createComment('no pending request'), child ? waitingCard(view, child) : document.createComment('no child waited on'), chartCard());
  typed();
  renderTimeline(view);
  highlight();
  void machinesKnown.then(() => showChart(machineOf(view), () => state.view === view));
}

/**
 * What is typed in the card of request `requestId` (an answer, guidance, a comment), and which box
 * has the focus; the function returned puts them back into the card drawn again for that request.
 * @param {string | undefined} requestId
 */
function typedInCard(requestId) {
  const card = document.getElementById('pending');
  if (!requestId || card?.getAttribute('data-request') !== requestId) return () => undefined;
  const values = [...card.querySelectorAll('input[id]')].flatMap((input) => (input instanceof HTMLInputElement && input.value ? [{ id: input.id, value: input.value }] : []));
  const focused = document.activeElement instanceof HTMLInputElement && card.contains(document.activeElement) ? document.activeElement.id : null;
  return () => {
    for (const { id, value } of values) {
      const input = document.getElementById(id);
      if (!(input instanceof HTMLInputElement)) continue;
      input.value = value;
      // What the card offers follows what is typed (Continue, once there is guidance).
      input.dispatchEvent(new Event('input', { bubbles: true }));
    }
    if (focused) document.getElementById(focused)?.focus();
  };
}

/**
 * The notice of an answer from this page the server refused, with who answered the request
 * instead when the thread says so; null when there is none. Stays until dismissed.
 * @param {ThreadView} view
 */
function noticeCard(view) {
  const refused = refusedAnswers.get(view.id);
  if (!refused) return null;
  const response = view.events.find((e) => e.type === 'human_response' && e.data.requestId === refused.requestId);
  const by = response?.type === 'human_response' && response.data.by ? ` by ${response.data.by}` : '';
  const what = response ? `the request was already answered${by}` : refused.message;
  const dismiss = el('button', { type: 'button', class: 'dismiss', text: 'Dismiss', onclick: () => (refusedAnswers.delete(view.id), renderDetail(view)) });
  return el('section', { class: 'card notice', id: 'thread-notice', role: 'status' }, [el('span', { text: `Your answer was not sent: ${what}.` }), dismiss]);
}

/**
 * The child a pipeline waits on: its last call journaled as a delegation (`{ threadId, agent }`
 * arguments) without a result, while it has not ended, read from the log as the server and the
 * CLI's `show` read it; null for a pipeline between steps (and an agent's thread, whose tools'
 * calls do not carry those two arguments).
 * @param {ThreadView} view
 */
function openDelegation(view) {
  /** @type {{ threadId: string, agent: string } | null} */
  let open = null;
  for (const call of openCalls(view)) open = delegationOf(call) ?? open;
  return open;
}

/**
 * The calls of a thread that has not ended without a result yet, in the log's order (a pipeline's
 * is the step it is in: its call is named after the step).
 * @param {ThreadView} view
 */
function openCalls(view) {
  if (TERMINAL.includes(view.status)) return [];
  const ended = new Set(view.events.flatMap((e) => (e.type === 'tool_result' ? [e.data.callId] : [])));
  return view.events.flatMap((e) => (e.type === 'tool_call' && !ended.has(e.data.callId) ? [e] : []));
}

const TERMINAL = ['done', 'failed', 'cancelled'];

/**
 * Which child a pipeline waits on and, once its view is read, what that child waits for.
 * @param {ThreadView} view
 * @param {{ threadId: string, agent: string }} child
 */
function waitingCard(view, child) {
  const line = el('div', { class: 'waiting-line' }, [`↳ waiting on ${child.agent} thread `, threadLink(child.threadId)]);
  const card = el('section', { class: 'card', id: 'waiting-on' }, [line]);
  // Not launched yet (the pipeline journals the child first: its launch refreshes the page), or
  // gone: the line stays as it is.
  loadThreadIfAny(child.threadId).then(
    async (childView) => {
      if (!childView || state.view !== view || !card.isConnected) return;
      line.append(`, which is ${childView.status}`);
      // A child pipeline waits on a child of its own: what the chain waits for is at its end.
      const end = await endOfChain(childView);
      if (state.view !== view || !card.isConnected) return;
      for (const id of end.chain) state.waitingOn.add(id);
      if (end.via) card.append(el('div', { class: 'waiting-through' }, [`through it on ${end.via.agent} thread `, threadLink(end.via.threadId), `, which is ${end.view.status}`]));
      const request = end.view.pendingRequest;
      if (request) card.append(el('div', { class: 'waiting-request', text: `${request.kind} request: ${request.question}` }), el('div', { class: 'hint', text: end.via ? 'answer it on that thread’s page' : 'answer it on the child’s page' }));
    },
    () => undefined,
  );
  return card;
}

/** How far down a chain of pipelines the card follows (the runtime's MAX_PIPELINE_DEPTH). */
const MAX_CHAIN = 16;

/**
 * The thread at the end of a chain of pipelines waiting on their children, from `view` down (read
 * from each one's log), and the delegation to it; `via` is null when `view` waits on none.
 * @param {ThreadView} view
 * `chain` names the threads followed below `view`.
 * @returns {Promise<{ view: ThreadView, via: { threadId: string, agent: string } | null, chain: string[] }>}
 */
async function endOfChain(view) {
  let end = view;
  /** @type {{ threadId: string, agent: string } | null} */
  let via = null;
  /** @type {string[]} */
  const chain = [];
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const next = openDelegation(end);
    if (!next) break;
    // Journaled but not launched yet: its launch moves it, and the page reads the card again.
    chain.push(next.threadId);
    const nextView = await loadThreadIfAny(next.threadId).catch(() => null);
    if (!nextView) break;
    end = nextView;
    via = next;
  }
  return { view: end, via, chain };
}

/**
 * @param {ThreadView} view
 */
function header(view) {
  let tokens = 0;
  for (const e of view.events) {
    if (e.type === 'decision' || (e.type === 'error' && e.data.tokens)) tokens += (e.data.tokens?.prompt ?? 0) + (e.data.tokens?.completion ?? 0);
  }
  const first = view.events[0];
  const parentId = first?.type === 'input' ? first.data.source?.parentId : undefined;
  const last = view.events[view.events.length - 1];
  // An ended thread: from its first event to its last. One still moving or waiting: since it was
  // created, kept current (its last event may be long ago: a wait for a child, a human, a slot).
  const ended = TERMINAL.includes(view.status);
  const created = Date.parse(view.createdAt ?? first?.at ?? '');
  const elapsed = ended ? (first && last ? Date.parse(last.at) - Date.parse(first.at) : NaN) : Date.now() - created;
  const figure = (/** @type {string} */ value, /** @type {string} */ label, /** @type {number | undefined} */ since = undefined) =>
    el('div', { class: 'figure', 'data-figure': label }, [el('b', { text: value, 'data-since': since }), el('span', { text: label })]);
  const queued = view.queued;
  return el('div', { class: 'thread-head' }, [
    el('div', {}, [
      el('h1', { id: 'thread-title', text: view.id, title: view.id }),
      el('div', { class: 'sub' }, [
        el('span', { id: 'thread-status' }, [statusPill(view.status)]),
        el('span', { id: 'thread-agent', text: `${machineOf(view).startsWith('pipeline:') ? 'pipeline' : 'agent'} ${view.agent}` }),
        el('span', { text: `v${view.version}` }),
        parentId === undefined ? null : el('span', { id: 'thread-parent' }, ['step of pipeline ', threadLink(parentId)]),
        // Its status says running, yet nothing moves: it waits for one of the server's slots.
        wakeNote(view),
        queued ? el('span', { id: 'thread-queued', class: 'queued', text: `queued: waiting for a slot, ${queued.running} running of maxConcurrent ${queued.maxConcurrent}` }) : null,
      ]),
      endedNote(view),
    ]),
    // The server's count, as the CLI shows it: an agent's decisions, a pipeline's step results.
    el('div', { class: 'figures' }, [
      figure(String(view.steps), 'steps'),
      figure(count(tokens), 'tokens'),
      ended || Number.isNaN(created) ? figure(duration(elapsed), 'elapsed') : figure(duration(elapsed), 'elapsed so far', created),
    ]),
  ]);
}

/**
 * Why a thread ended badly: a failed thread's reason (the view's `failure`), a cancelled one's and
 * who cancelled it (from its log); null for any other.
 * @param {ThreadView} view
 */
function endedNote(view) {
  if (view.status !== 'failed' && view.status !== 'cancelled') return null;
  // A failed thread's reason as the server folds it (its failed event, or a human's stop of an escalation).
  if (view.status === 'failed') return el('div', { id: 'thread-ended', class: 'ended s-failed', text: view.failure ? `Failed: ${view.failure}` : 'Failed' });
  // The cancel that ended it: the first (as the server's cancelOf reads it for a list row's failure).
  const cancel = view.events.find((e) => e.type === 'control' && e.data.action === 'cancel');
  const data = cancel?.type === 'control' ? cancel.data : undefined;
  const text = `Cancelled${data?.by ? ` by ${data.by}` : ''}${data?.reason ? `: ${data.reason}` : ''}`;
  return el('div', { id: 'thread-ended', class: 'ended s-cancelled', text });
}

/**
 * When a backing-off thread retries, or a sleeping one wakes. Its status stays `backing_off` or
 * `sleeping` until the thread records something: past its due time, the retry or wake is due (it
 * may wait for a slot or a worker), and runs now when the server's actor runs it.
 * @param {ThreadView} view
 */
function wakeNote(view) {
  const due = (view.status === 'backing_off' || view.status === 'sleeping') && view.wakeAt ? Date.parse(view.wakeAt) : NaN;
  if (Number.isNaN(due)) return null;
  const now = Date.now();
  const at = deadlineTime(due, now);
  if (view.status === 'sleeping') {
    const text = due > now ? `wakes ${at}` : view.live ? `waking now (due since ${at})` : `wake due since ${at}`;
    return el('span', { id: 'thread-wake', text });
  }
  const text = due > now ? `retries at ${at}` : view.live ? `retrying now (due since ${at})` : `retry due since ${at}`;
  return el('span', { id: 'thread-retry', text });
}

/**
 * Draws a machine's chart (loaded once per machine) while `current()` says it is still wanted, then highlights.
 * @param {string} machine
 * @param {() => boolean} current
 */
async function showChart(machine, current) {
  let chart = state.charts.get(machine);
  if (!chart) {
    chart = loadChart(machine);
    state.charts.set(machine, chart);
    chart.catch(() => state.charts.delete(machine));
  }
  const holder = document.getElementById('chart');
  try {
    const loaded = await chart;
    if (!current() || !holder?.isConnected) return;
    drawChart(holder, loaded);
    $('#chart-machine').textContent = machine === 'agent' ? '' : machine;
    highlight();
    showActive(holder);
  } catch (error) {
    if (holder?.isConnected) holder.replaceChildren(el('div', { class: 'hint', text: `No statechart for ${machine}: ${error instanceof Error ? error.message : String(error)}` }));
  }
}

/**
 * Scrolls a chart larger than its panel, once drawn, so that its (first) active state is in view:
 * along an axis it is out of view on, to the middle. Later the reader scrolls it.
 * @param {HTMLElement} holder
 */
function showActive(holder) {
  const active = holder.querySelector('.node.active');
  if (!active) return;
  const panel = holder.getBoundingClientRect();
  const box = active.getBoundingClientRect();
  if (box.left < panel.left || box.right > panel.right) holder.scrollLeft += box.left + box.width / 2 - (panel.left + panel.width / 2);
  if (box.top < panel.top || box.bottom > panel.bottom) holder.scrollTop += box.top + box.height / 2 - (panel.top + panel.height / 2);
}

/**
 * Every active state's path: `['a', 'a.b']` for `{ a: 'b' }`.
 * @param {Json} value
 * @param {string[]} [prefix]
 * @param {string[]} [out]
 * @returns {string[]}
 */
function activePaths(value, prefix = [], out = []) {
  if (typeof value === 'string') out.push([...prefix, value].join('.'));
  else if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) {
      out.push([...prefix, key].join('.'));
      activePaths(child, [...prefix, key], out);
    }
  }
  return out;
}

/**
 * A state value's name: the deepest active state.
 * @param {Json} value
 */
export function valueName(value) {
  if (typeof value === 'string') return value;
  const paths = activePaths(value);
  return paths[paths.length - 1] ?? '–';
}

/**
 * The selected thread's state: its latest actor's, while that actor still stands for the thread
 * (see {@link actorStandsFor}); else derived from its status.
 * @param {ThreadView} view
 * @returns {{ value: Json, live: boolean, actor: ActorRecord | null }}
 */
function currentState(view) {
  const actor = state.actorByThread.get(view.id);
  if (actor && actor.value != null && actorStandsFor(actor, view)) return { value: actor.value, live: actor.status === 'active', actor };
  return { value: STATE_OF_STATUS[view.status] ?? null, live: false, actor: null };
}

/**
 * Whether an actor's state is the thread's. An actor's version is the thread's as of its latest
 * snapshot, taken when it entered its state; the step it runs there journals events after that
 * (an agent with steps of its author journals its tool call once in `executing`, a pipeline its
 * step's call once in the step's state), so an actor still running the thread (active, or lost
 * with its process mid-run) is a version or more behind it yet in the thread's state, as long as
 * the thread's status is the one the actor last gave it (its step journals no rest). An actor
 * at rest is the thread's only at the thread's version: past it, the thread moved on without it
 * (an answer through another process, which no actor here reports).
 * @param {ActorRecord} actor
 * @param {ThreadView} view
 */
function actorStandsFor(actor, view) {
  if (actor.version == null || actor.version >= view.version) return true;
  const running = actor.status === 'active' || actor.lost === true;
  return running && actor.threadStatus === view.status;
}

/** The statuses of a thread that still moves on its own: an actor of some process should run it. */
const MOVING = ['running', 'backing_off'];

/**
 * The actor a still-moving thread was cut off with: its latest, live when its process went (killed
 * mid-tool-call, say; the registry marks it `lost`), so nothing runs the thread until the queue
 * delivers its job again. Null otherwise: a thread at rest (a pipeline waiting on its child, a
 * backoff handed to a wake-up job) whose process went later is not orphaned, and a thread another
 * process picked up is that one's.
 * @param {ThreadView} view
 * @returns {ActorRecord | null}
 */
function orphanedWith(view) {
  const actor = state.actorByThread.get(view.id);
  return actor?.lost && MOVING.includes(view.status) ? actor : null;
}

/** Marks the selected thread's state in the chart and in the card's header. */
export function highlight() {
  const view = state.view;
  const holder = document.getElementById('chart');
  const label = document.getElementById('current-state');
  if (!view || !holder || !label) return;
  const current = currentState(view);
  const orphan = orphanedWith(view);
  const known = current.value != null;
  const tone = STATUS_TONE[view.status];
  highlightChart(holder, new Set(known ? activePaths(current.value) : []), { tone, live: current.live, step: openCalls(view).at(-1)?.data.tool ?? null });
  label.textContent = known ? valueName(current.value) : view.status;
  label.className = known ? (current.live ? 'live' : orphan ? 'orphaned' : 'rest') : 'none';
  label.style.background = known ? tone : '';
  const liveness = $('#liveness');
  const actor = current.actor;
  liveness.textContent = orphan
    ? `the process that ran it (${orphan.processId}) is gone; its job is delivered again to another worker after the queue’s ack wait`
    : actor
      ? current.live
        ? `live · actor ${actor.sessionId} on ${actor.processId}`
        : 'at rest · no actor in memory'
      : view.queued
        ? 'queued · waiting for a slot'
        : 'from the thread’s events';
  liveness.classList.toggle('orphaned', orphan !== null);
  liveness.title = orphan ? `last actor ${orphan.key}, live when its process went (a goodbye, or its heartbeats missed)` : actor ? `last actor ${actor.key} (${actor.status})` : '';
}
