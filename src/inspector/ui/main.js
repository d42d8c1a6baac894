// @ts-check
// The inspector page: loads the threads and the machines, follows the live stream, and wires the
// list, the selected thread and the live actors together.
import { follow, loadMachines } from './api.js';
import { actorsStale, initActors, scheduleActors } from './actors.js';
import { highlight, refreshView, select, showMachine, waitForMachines } from './detail.js';
import { $, el } from './dom.js';
import { applyActor, forgetActors, forgetThread, state, upsertThread } from './state.js';
import { initThreadList, refreshList, reloadThreads, renderList, updateStats } from './threadList.js';
import { clearTimeline } from './timeline.js';

/** @typedef {import('./types.js').ActorRecord} ActorRecord */
/** @typedef {import('./types.js').ThreadRow} ThreadRow */
/** @typedef {import('./types.js').ProcessPresence} ProcessPresence */

/**
 * A batch of actors from the stream: the list, the actors table and, when one runs the selected
 * thread, its chart (and its events, when it moved on) follow.
 * @param {ActorRecord[]} actors
 */
function onActors(actors) {
  let touched = false;
  let moved = false;
  for (const a of actors) {
    applyActor(a);
    if (state.selected && a.threadId === state.selected) {
      touched = true;
      if (state.view && a.version != null && a.version > state.view.version) moved = true;
    }
  }
  scheduleActors();
  refreshList();
  if (touched) highlight();
  if (moved) void refreshView();
}

/**
 * Processes the server counts gone, or heard from again (their actors came in the batch before).
 * @param {ProcessPresence[]} processes
 */
function onProcesses(processes) {
  // Only processes the page lists (by their actors, or the hello): one known only by its heartbeat is not.
  for (const p of processes) if (state.processes.has(p.processId)) state.processes.set(p.processId, p.live);
  updateStats();
  scheduleActors();
}

/**
 * A batch of thread rows from the stream.
 * @param {ThreadRow[]} rows
 */
function onThreads(rows) {
  let refresh = false;
  for (const row of rows) {
    upsertThread(row);
    if (row.id === state.selected && (!state.view || row.version !== state.view.version)) refresh = true;
    // The child the selected pipeline waits on (or one down its chain) moved: what the page says of it is read again.
    if (state.waitingOn.has(row.id)) refresh = true;
  }
  // A thread that moved while no actor ran it (cancelled at rest) changes its stopped actor's row.
  scheduleActors();
  refreshList();
  if (refresh) void refreshView();
}

/**
 * Threads the server deleted: gone from the list and the live actors; the selected one says so.
 * @param {string[]} ids
 */
function onDeleted(ids) {
  for (const id of ids) {
    forgetThread(id);
    if (id !== state.selected) continue;
    state.selected = null;
    state.view = null;
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    $('#detail').replaceChildren(el('div', { class: 'empty', text: `Thread ${id} was deleted.` }));
    clearTimeline();
  }
  scheduleActors();
  refreshList();
}

const connection = $('#connection');
const stream = follow({
  state(kind, again) {
    connection.className = kind === 'connecting' ? '' : kind;
    connection.textContent = kind === 'live' ? 'live' : kind === 'connecting' ? 'connecting…' : 'reconnecting…';
    const offline = kind === 'offline';
    connection.title = offline ? 'the server is unreachable: click (or Enter) to try again now' : '';
    // A button while offline, for the keyboard too.
    connection.tabIndex = offline ? 0 : -1;
    if (offline) connection.setAttribute('role', 'button');
    else connection.removeAttribute('role');
    // The live actors are as they were when the stream went (the hello of the next one replaces them).
    if (kind === 'live') actorsStale(null);
    else if (kind === 'offline') actorsStale(Date.now());
    // Changes made while the stream was down are not replayed: read the list and the selected
    // thread again (it may have failed to load while the server was away, or changed since).
    if (again) {
      void reloadThreads();
      void refreshView();
    }
  },
  denied(reason) {
    connection.className = 'denied';
    connection.textContent = reason;
    connection.title = `the server needs a bearer token${reason === 'wrong token' ? ' and refused this one' : ''}: open this page with ?token=<token>`;
  },
  event(event, payload) {
    if (event === 'hello') {
      // The server's word on every process and recent actor it knows, again after a reconnect (a
      // restarted server counts the order of its actors anew).
      forgetActors();
      scheduleActors();
      state.processes.clear();
      for (const p of /** @type {{ processes?: ProcessPresence[] }} */ (payload).processes ?? []) state.processes.set(p.processId, p.live !== false);
      updateStats();
    } else if (event === 'actors') onActors(/** @type {ActorRecord[]} */ (payload));
    else if (event === 'processes') onProcesses(/** @type {ProcessPresence[]} */ (payload));
    else if (event === 'threads') onThreads(/** @type {ThreadRow[]} */ (payload));
    else if (event === 'deleted') onDeleted(/** @type {string[]} */ (payload));
  },
});

// While the stream waits to try again: a click on the pill, or coming back to the tab, tries now.
connection.addEventListener('click', () => stream.retryNow());
connection.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter' && event.key !== ' ') return;
  event.preventDefault();
  stream.retryNow();
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') stream.retryNow();
});

initThreadList({ select });
initActors({ select });
const picker = /** @type {HTMLSelectElement} */ ($('#machine-picker'));
picker.addEventListener('change', () => {
  if (picker.value) showMachine(picker.value);
  picker.value = '';
});
waitForMachines(
  loadMachines().then((body) => {
    state.threadMachines = body.threadMachines;
    picker.append(...body.machines.map((m) => el('option', { value: m, text: machineLabel(m, body.threadMachines) })));
  }),
);
/**
 * A machine as the menu names it: with the agents or pipelines that run it, when its id does not
 * name them already (`agent (writer, calculator)`; `agent:researcher` is the researcher's).
 * @param {string} machine
 * @param {Record<string, string>} threadMachines
 */
function machineLabel(machine, threadMachines) {
  const runners = Object.keys(threadMachines).filter((name) => threadMachines[name] === machine && !machine.endsWith(`:${name}`));
  return runners.length ? `${machine} (${runners.join(', ')})` : machine;
}
/** Opens what the address names: `#thread=<id>` or `#machine=<id>`. */
function openFromHash() {
  const thread = /thread=([^&]+)/.exec(location.hash)?.[1];
  const machine = /machine=([^&]+)/.exec(location.hash)?.[1];
  if (thread) select(decodeURIComponent(thread));
  else if (machine) showMachine(decodeURIComponent(machine));
}
void reloadThreads().then(openFromHash);
// The page rewrites the address itself without this event: it fires when someone edits the address.
window.addEventListener('hashchange', openFromHash);
// Keeps the list's "12s ago" times true.
setInterval(renderList, 15_000);
