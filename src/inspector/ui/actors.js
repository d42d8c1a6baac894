// @ts-check
// The live actors of every process, grouped by process: supervisors, agent and pipeline actors
// (a click, or Enter on the focused row, opens their thread). An actor without states is not listed (the step-runner child every
// thread's actor had before the runner moved into the actor's context, from a process of an older release).
import { $, clockTime, el } from './dom.js';
import { isSuperseded, state } from './state.js';
import { valueName } from './detail.js';

/** @typedef {import('./types.js').ActorRecord} ActorRecord */

/** Rows the table shows at most. */
const MAX_ROWS = 150;

let timer = 0;
/** Since when the page has not heard from the server (epoch ms): what the table shows is as it was then. @type {number | null} */
let staleSince = null;
/** @type {(id: string) => void} */
let onSelect = () => {};

/**
 * @param {{ select: (id: string) => void }} handlers
 */
export function initActors(handlers) {
  onSelect = handlers.select;
}

/** Renders the table within 200 ms (bursts of updates render once). */
export function scheduleActors() {
  if (timer) return;
  timer = window.setTimeout(() => {
    timer = 0;
    renderActors();
  }, 200);
}

/**
 * The server is unreachable since `at` (the table says so, and shows no actor live), or (null) heard from again.
 * @param {number | null} at
 */
export function actorsStale(at) {
  if (at !== null && staleSince !== null) return;
  staleSince = at;
  scheduleActors();
}

function renderActors() {
  // A thread is one row, its latest actor's: an earlier one (evicted at rest) is not shown.
  const all = [...state.actors.values()].filter((a) => !isSuperseded(a)).sort((a, b) => b.updatedAt - a.updatedAt);
  const live = all.filter((a) => a.status === 'active' && a.value != null).length;
  // Processes with a live actor: one that stopped or went silent shows its actors stopped.
  const processes = new Set(all.filter((a) => a.status === 'active').map((a) => a.processId)).size;
  $('#actor-count').textContent = `${staleSince === null ? '' : 'last seen: '}${live} live · ${processes} process${processes === 1 ? '' : 'es'}`;
  /** @type {Map<string, ActorRecord[]>} */
  const byProcess = new Map();
  for (const a of all.filter((x) => x.value != null).slice(0, MAX_ROWS)) {
    const group = byProcess.get(a.processId) ?? [];
    group.push(a);
    byProcess.set(a.processId, group);
  }
  const rows = [...byProcess].flatMap(([processId, actors]) => [processRow(processId, actors), ...actors.map(actorRow)]);
  const body = $('#actors tbody');
  const active = document.activeElement;
  const focused = active instanceof HTMLElement && body.contains(active) ? active.getAttribute('data-key') : null;
  body.replaceChildren(...rows);
  // Drawn anew at every change: the row a keyboard user is on keeps the focus.
  if (focused !== null) rows.find((row) => row.getAttribute('data-key') === focused)?.focus({ preventScroll: true });
  $('#actors-empty').hidden = rows.length > 0;
  const note = $('#actors-stale');
  note.hidden = staleSince === null;
  note.textContent = staleSince === null ? '' : `as of ${clockTime(staleSince)}, server unreachable`;
}

/**
 * @param {string} processId
 * @param {ActorRecord[]} actors
 */
function processRow(processId, actors) {
  const live = actors.filter((a) => a.status === 'active').length;
  const gone = state.processes.get(processId) === false ? ' · gone' : '';
  return el('tr', { class: 'proc', 'data-process': processId }, [
    el('td', { colspan: '3' }, [el('span', { class: 'mono', text: processId }), el('span', { class: 'count', text: ` · ${live} live of ${actors.length}${gone}` })]),
  ]);
}

/**
 * @param {ActorRecord} a
 */
function actorRow(a) {
  const threadId = a.threadId;
  // Not shown live while the server is unreachable: it may have stopped since.
  const classes = `actor ${a.status === 'active' && staleSince === null ? 'live' : 'rest'}${threadId ? ' agent-row' : ''}`;
  const value = `${a.value != null ? valueName(a.value) : a.status}${movedOn(a)}`;
  /** @param {KeyboardEvent} event */
  const onKey = (event) => {
    if (!threadId || (event.key !== 'Enter' && event.key !== ' ')) return;
    event.preventDefault();
    onSelect(threadId);
  };
  const opens = threadId ? { tabindex: '0', 'aria-label': `open thread ${threadId} (${a.machine || '?'}, ${value})`, onclick: () => onSelect(threadId), onkeydown: /** @type {(event: Event) => void} */ (onKey) } : {};
  return el('tr', { class: classes, title: `${a.key} · ${a.status}`, ...opens, 'data-key': a.key, 'data-process': a.processId, 'data-machine': a.machine }, [
    el('td', { class: 'mono' }, [el('span', { class: 'dot' }), a.name]),
    el('td', { text: a.machine || '?' }),
    el('td', { class: 'state' }, [el('code', { text: `${value}${slots(a)}` })]),
  ]);
}

/**
 * ` · thread now cancelled` for a stopped actor whose thread moved on without an actor (cancelled
 * at rest): the state it stopped in is no longer where the thread is; '' otherwise.
 * @param {ActorRecord} a
 */
function movedOn(a) {
  const row = a.threadId && a.status !== 'active' ? state.byId.get(a.threadId) : undefined;
  if (!row || a.version == null || (row.version || 0) <= a.version || row.status === a.threadStatus) return '';
  return ` · thread now ${row.status.replace('_', ' ')}`;
}

/**
 * A supervisor's slots, from its context summary: ` · 1 running, 3 queued, of maxConcurrent 1`
 * (threads queued make no step, though their status says running); '' for other actors.
 * @param {ActorRecord} a
 */
function slots(a) {
  const c = a.context;
  if (!c || typeof c.running !== 'number' || typeof c.queued !== 'number') return '';
  return ` · ${c.running} running, ${c.queued} queued${typeof c.maxConcurrent === 'number' ? `, of maxConcurrent ${c.maxConcurrent}` : ''}`;
}
