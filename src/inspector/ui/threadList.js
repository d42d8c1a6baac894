// @ts-check
// The thread list (virtualized: only the rows in view exist, so thousands of threads stay fast),
// its filters, the launch form and the header's figures.
import { ApiError, launch, loadAgents, loadThreads } from './api.js';
import { $, ago, count, el, json, statusPill } from './dom.js';
import { rowOfView, sortThreads, state, STATUS_TONE, upsertThread } from './state.js';

/** @typedef {import('./types.js').ThreadRow} ThreadRow */
/** @typedef {import('./types.js').AgentInfo} AgentInfo */
/** @typedef {import('./types.js').Json} Json */
/** @typedef {import('./types.js').PendingRequest} PendingRequest */

/** A row's height (px); one of a thread that waits for a human has a line more, saying what it asks. */
const ROW = 52;
const ASK_LINE = 18;

/** Where each row of the filtered list starts (px), and last where the list ends: laid out by {@link renderList}. */
let tops = [0];

const list = $('#thread-list');
const spacer = el('div', { class: 'spacer' });
/** @type {(id: string) => void} */
let onSelect = () => {};

/** A page of one column (a phone: styles.css's `max-width: 640px`), where the thread lies below the list. */
const oneColumn = window.matchMedia('(max-width: 640px)');

/**
 * Opens a thread chosen from the list (or launched from its form) and, on a page of one column,
 * scrolls to it.
 * @param {string} id
 */
function choose(id) {
  onSelect(id);
  if (oneColumn.matches) $('#detail').scrollIntoView({ block: 'start' });
}
let frame = 0;

/**
 * Wires the list, the filters and the launch form.
 * @param {{ select: (id: string) => void }} handlers
 */
export function initThreadList(handlers) {
  onSelect = handlers.select;
  list.appendChild(spacer);
  list.addEventListener('scroll', scheduleList, { passive: true });
  list.addEventListener('keydown', onListKey);
  window.addEventListener('resize', scheduleList);
  initFilters();
  void initLaunch();
}

function scheduleList() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    renderList();
  });
}

/** Loads the threads (again, after a reconnect) and shows them. */
export async function reloadThreads() {
  try {
    for (const row of await loadThreads()) upsertThread(row);
    threadsLoaded = true;
    refreshList();
  } catch (error) {
    const status = error instanceof ApiError ? error.status : 0;
    const message = error instanceof Error ? error.message : String(error);
    spacer.replaceChildren(el('div', { class: 'hint', text: `Could not load threads: ${message}${status === 401 ? ' (open this page with ?token=<token>)' : ''}` }));
    // Never read (a token refused): say so, rather than `loading…` and a count of no threads.
    if (!threadsLoaded) {
      $('#thread-count').textContent = 'not loaded';
      for (const id of ['#stat-threads', '#stat-waiting']) $(id).textContent = '–';
    }
  }
}

/** Whether the list was read once (its counts are the server's). */
let threadsLoaded = false;

/** Sorts, filters and renders the list, the agent filter's options and the header's figures. */
export function refreshList() {
  sortThreads();
  renderAgentOptions();
  const { status, agent } = state.filter;
  const text = state.filter.text.trim().toLowerCase();
  state.filtered = state.threads.filter(
    (t) => (!status || t.status === status) && (!agent || t.agent === agent) && (!text || t.id.toLowerCase().includes(text) || t.agent.toLowerCase().includes(text)),
  );
  const total = state.threads.length;
  const shown = state.filtered.length;
  $('#thread-count').textContent = shown === total ? `${total} thread${total === 1 ? '' : 's'}` : `${shown} of ${total} threads`;
  renderList();
  updateStats();
}

/** Renders the rows in view (and a few around them). */
export function renderList() {
  const rows = state.filtered;
  layOut(rows);
  spacer.style.height = `${topOf(rows.length)}px`;
  const top = list.scrollTop;
  const height = list.clientHeight || 600;
  const first = Math.max(0, rowAt(top) - 4);
  const last = Math.min(rows.length, rowAt(top + height) + 5);
  const fragment = document.createDocumentFragment();
  for (let i = first; i < last; i++) {
    const row = rows[i];
    if (row) fragment.appendChild(threadRow(row, i));
  }
  const focused = focusedRowId();
  spacer.replaceChildren(fragment);
  // The rows are drawn anew at every change: the one a keyboard user is on keeps the focus.
  if (focused !== null) rowElement(focused)?.focus({ preventScroll: true });
  if (rows.length === 0) spacer.appendChild(el('div', { class: 'hint', text: state.threads.length ? 'No thread matches the filters.' : 'No threads yet: launch one.' }));
}

/**
 * Where each row goes, by its height.
 * @param {readonly ThreadRow[]} rows
 */
function layOut(rows) {
  tops = [0];
  for (const t of rows) tops.push(topOf(tops.length - 1) + heightOf(t));
}

/**
 * @param {ThreadRow} t
 */
function heightOf(t) {
  return t.pending ? ROW + ASK_LINE : ROW;
}

/**
 * Where the `i`th row starts (px); `topOf(rows.length)` is where the list ends.
 * @param {number} i
 */
function topOf(i) {
  return tops[i] ?? 0;
}

/**
 * The index of the row at `y` px down the list (the last one below its end).
 * @param {number} y
 */
function rowAt(y) {
  let low = 0;
  let high = Math.max(0, tops.length - 2);
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (topOf(mid) <= y) low = mid;
    else high = mid - 1;
  }
  return low;
}

/**
 * @param {ThreadRow} t
 * @param {number} i its index in the filtered list
 */
function threadRow(t, i) {
  const selected = t.id === state.selected;
  const row = el('div', { class: `thread-row${selected ? ' selected' : ''}`, role: 'listitem', tabindex: '0', 'aria-current': selected ? 'true' : null, 'data-id': t.id, title: t.id, onclick: () => choose(t.id) }, [
    idLine(t.id),
    el('div', { class: 'meta' }, [statusPill(t.status), el('span', { class: 'agent', text: t.agent, title: t.agent }), el('span', { class: 'when', text: ago(t.updatedAt) })]),
    t.pending && askLine(t.pending),
  ]);
  row.style.top = `${topOf(i)}px`;
  row.style.height = `${heightOf(t)}px`;
  return row;
}

/**
 * What a waiting thread asks, on one line cut to fit (`approval: divide {"a":7,"b":2}`, `input:
 * Which order?`); its tooltip has the whole request and how long ago it was asked.
 * @param {PendingRequest} p
 */
function askLine(p) {
  const call = p.tool === undefined ? '' : `${p.tool} ${json(p.args ?? {})}`;
  const when = ago(p.at);
  const whole = [
    `${p.kind}, asked ${when === 'now' ? 'just now' : when}`,
    p.tool === undefined ? '' : `tool: ${p.tool}`,
    p.args === undefined ? '' : `args: ${typeof p.args === 'string' ? p.args : JSON.stringify(p.args)}`,
    `question: ${p.question}`,
  ];
  return el('div', { class: `ask k-${p.kind}`, text: `${p.kind}: ${call || p.question}`, title: whole.filter(Boolean).join('\n') });
}

/**
 * A thread's id, cut in the middle when too long: its end stays, a pipeline step's `--<step>` (that
 * tells a child from its parent) or the last few characters.
 * @param {string} id
 */
function idLine(id) {
  const step = id.lastIndexOf('--');
  const cut = step > 0 ? step : Math.max(0, id.length - 4);
  return el('div', { class: 'id' }, [el('span', { class: 'head', text: id.slice(0, cut) }), el('span', { class: 'tail', text: id.slice(cut) })]);
}

/** The id of the thread row that has the focus, if one has. */
function focusedRowId() {
  const active = document.activeElement;
  return active instanceof HTMLElement && active.classList.contains('thread-row') && list.contains(active) ? active.getAttribute('data-id') : null;
}

/**
 * The row of a thread, if it is drawn.
 * @param {string} id
 * @returns {HTMLElement | null}
 */
function rowElement(id) {
  const rows = /** @type {HTMLElement[]} */ ([...spacer.querySelectorAll('.thread-row')]);
  return rows.find((row) => row.getAttribute('data-id') === id) ?? null;
}

/**
 * The list from the keyboard: Enter or Space opens the focused thread, the arrows (and Home, End)
 * move along the threads, scrolling the list as they go.
 * @param {KeyboardEvent} event
 */
function onListKey(event) {
  const id = focusedRowId();
  if (id === null) return;
  if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    choose(id);
    return;
  }
  const moves = { ArrowDown: 1, ArrowUp: -1, Home: -Infinity, End: Infinity };
  const move = moves[/** @type {keyof typeof moves} */ (event.key)];
  if (move === undefined) return;
  event.preventDefault();
  const index = state.filtered.findIndex((t) => t.id === id);
  const next = state.filtered[Math.max(0, Math.min(state.filtered.length - 1, index + move))];
  if (!next) return;
  const at = topOf(state.filtered.indexOf(next));
  const end = at + heightOf(next);
  if (at < list.scrollTop) list.scrollTop = at;
  else if (end > list.scrollTop + list.clientHeight) list.scrollTop = end - list.clientHeight;
  renderList();
  rowElement(next.id)?.focus({ preventScroll: true });
}

/** The header's figures: threads, those waiting for a human, live processes (and those gone, apart). */
export function updateStats() {
  $('#stat-threads').textContent = count(state.threads.length);
  $('#label-threads').textContent = state.threads.length === 1 ? 'thread' : 'threads';
  $('#stat-waiting').textContent = count(state.threads.filter((t) => t.status === 'awaiting_human' || t.status === 'escalated').length);
  const live = [...state.processes.values()].filter(Boolean).length;
  const gone = state.processes.size - live;
  $('#stat-processes').textContent = String(live);
  $('#label-processes').textContent = live === 1 ? 'process' : 'processes';
  $('#stat-gone').textContent = gone > 0 ? ` (${gone} gone)` : '';
}

/** The agents the filter offers, as last rendered (one per line). */
let agentOptions = '';

/**
 * Offers the agent of every listed thread (and the one filtered by): read from the rows, however
 * each came (the thread list, the stream's rows or actors, a launch), so none is missed.
 */
function renderAgentOptions() {
  const agents = new Set(state.threads.map((t) => t.agent));
  if (state.filter.agent) agents.add(state.filter.agent);
  const names = [...agents].filter(Boolean).sort();
  if (names.join('\n') === agentOptions) return;
  agentOptions = names.join('\n');
  const select = /** @type {HTMLSelectElement} */ ($('#filter-agent'));
  const current = select.value;
  select.replaceChildren(el('option', { value: '', text: 'all agents' }), ...names.map((a) => el('option', { value: a, text: a })));
  select.value = current;
}

function initFilters() {
  const statusSelect = /** @type {HTMLSelectElement} */ ($('#filter-status'));
  for (const s of Object.keys(STATUS_TONE)) statusSelect.appendChild(el('option', { value: s, text: s.replace('_', ' ') }));
  /** @param {() => void} change */
  const filterBy = (change) => {
    change();
    list.scrollTop = 0;
    refreshList();
  };
  statusSelect.addEventListener('change', () => filterBy(() => (state.filter.status = statusSelect.value)));
  const agentSelect = /** @type {HTMLSelectElement} */ ($('#filter-agent'));
  agentSelect.addEventListener('change', () => filterBy(() => (state.filter.agent = agentSelect.value)));
  const text = /** @type {HTMLInputElement} */ ($('#filter-text'));
  let timer = 0;
  text.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => filterBy(() => (state.filter.text = text.value)), 80);
  });
}

/** The launch form, shown when the HTTP API is there to launch with. */
async function initLaunch() {
  const form = /** @type {HTMLFormElement} */ ($('#launch'));
  const agentSelect = /** @type {HTMLSelectElement} */ ($('#launch-agent'));
  const input = /** @type {HTMLInputElement} */ ($('#launch-input'));
  const button = /** @type {HTMLButtonElement} */ ($('#launch-send'));
  const failure = $('#launch-error');
  const clear = () => {
    failure.hidden = true;
    failure.textContent = '';
  };
  input.addEventListener('input', clear);
  agentSelect.addEventListener('change', () => {
    clear();
    askFor(agentSelect, input);
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    clear();
    try {
      const view = await launch(agentSelect.value, parseInput(input.value));
      input.value = '';
      upsertThread(rowOfView(view));
      refreshList();
      choose(view.id);
    } catch (error) {
      failure.textContent = `Launch failed: ${error instanceof Error ? error.message : String(error)}`;
      failure.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  try {
    const launchable = await loadAgents();
    /** @param {AgentInfo} a */
    const option = (a) => el('option', { value: a.name, text: a.name, title: a.description || '' });
    const pipelines = launchable.filter((a) => a.kind === 'pipeline');
    const agents = launchable.filter((a) => a.kind !== 'pipeline');
    for (const [label, group] of /** @type {const} */ ([['agents', agents], ['pipelines', pipelines]])) {
      if (group.length) agentSelect.appendChild(el('optgroup', { label }, group.map(option)));
    }
    for (const a of launchable) inputSchemas.set(a.name, a.inputSchema);
    askFor(agentSelect, input);
    if (launchable.length) form.hidden = false;
  } catch {
    // No HTTP API mounted: launching from the page is off.
  }
}

/** The input schema of each agent and pipeline that can be launched (`GET /agents`), by name. @type {Map<string, Json | undefined>} */
const inputSchemas = new Map();

/**
 * What the launch input asks for: one whose input schema is an object's (a pipeline's, mostly)
 * takes JSON, shown by an example with its own keys; an agent that takes any input, text or JSON.
 * @param {HTMLSelectElement} agentSelect
 * @param {HTMLInputElement} input
 */
function askFor(agentSelect, input) {
  const group = agentSelect.selectedOptions[0]?.parentElement;
  const pipeline = group instanceof HTMLOptGroupElement && group.label === 'pipelines';
  const shape = objectShape(inputSchemas.get(agentSelect.value));
  const what = pipeline ? 'the pipeline’s input' : 'the agent’s input';
  if (shape) {
    input.placeholder = `JSON input, e.g. {${shape.keys.map(([key, example]) => `${JSON.stringify(key)}: ${example}`).join(', ')}}`;
    input.title = `${what}, as JSON${shape.required.length ? `: ${shape.required.join(', ')} required` : ''}`;
  } else {
    input.placeholder = pipeline ? 'JSON input' : 'input…';
    input.title = pipeline ? `${what}, as JSON` : 'the input: text or JSON';
  }
}

/**
 * The keys of an object's JSON Schema, each with an example value of its type, and the required
 * ones; null for a schema of anything else.
 * @param {Json | undefined} schema
 * @returns {{ keys: [string, string][], required: string[] } | null}
 */
function objectShape(schema) {
  if (!isObject(schema) || !isObject(schema.properties)) return null;
  const keys = Object.entries(schema.properties);
  if (!keys.length) return null;
  const required = Array.isArray(schema.required) ? schema.required.filter((k) => typeof k === 'string') : [];
  return { keys: keys.map(([key, property]) => [key, exampleOf(property)]), required };
}

const EXAMPLES = /** @type {Record<string, string>} */ ({ string: '"…"', number: '0', integer: '0', boolean: 'false', array: '[]', object: '{}' });

/**
 * @param {Json} property
 */
function exampleOf(property) {
  const type = isObject(property) ? property.type : undefined;
  return (typeof type === 'string' && EXAMPLES[type]) || '…';
}

/**
 * @param {Json | undefined} value
 * @returns {value is { [key: string]: Json }}
 */
function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The launch input: JSON when it parses, else the text itself.
 * @param {string} raw
 * @returns {unknown}
 */
function parseInput(raw) {
  const text = raw.trim();
  if (text === '') return '';
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
