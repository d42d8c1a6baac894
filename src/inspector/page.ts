/**
 * The inspector page: one self-contained HTML document (inline CSS and JavaScript, no CDN, no build
 * step), served at `GET /inspector`. It reads the API under `/inspector/api/*`, follows
 * `/inspector/stream` (server-sent events read with `fetch`, so the bearer token can be sent), and
 * answers human requests with the HTTP API's `POST /threads/:id/respond`.
 *
 * Element ids tests and users rely on: `#thread-list` (virtualized: only the visible `.thread-row`s
 * exist), `#filter-status`, `#filter-agent`, `#filter-text`, `#thread-count`, `#chart` (the
 * statechart; each state a `.node[data-state]`, the active ones `.active`), `#current-state`,
 * `#timeline`, `#pending`, `#approve`, `#deny`, `#answer-input`, `#answer-send`, `#actors`,
 * `#launch-agent`, `#launch-input`, `#launch-send`, `#connection`.
 */
export function inspectorPage(): string {
  return PAGE;
}

const STYLE = String.raw`
:root {
  --ink: #1c2233; --muted: #6a7388; --faint: #98a0b3; --line: #e4e8f0; --bg: #f3f5f9; --panel: #ffffff;
  --accent: #2f6fed; --accent-soft: #e8effe;
  --running: #2f6fed; --awaiting_human: #d97706; --escalated: #e0592a; --backing_off: #8b5cf6;
  --paused: #64748b; --done: #16a34a; --failed: #dc2626; --cancelled: #94a3b8;
}
* { box-sizing: border-box; }
html, body { height: 100%; }
body { margin: 0; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); display: grid; grid-template-rows: 48px minmax(0, 1fr); overflow: hidden; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12px; }
button { font: inherit; cursor: pointer; border-radius: 6px; border: 1px solid var(--line); background: #fff; padding: 6px 12px; color: var(--ink); }
button:hover { border-color: #c9d0de; }
button:disabled { opacity: .5; cursor: default; }
input, select, textarea { font: inherit; border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; background: #fff; color: var(--ink); min-width: 0; }
input:focus, select:focus, textarea:focus { outline: 2px solid var(--accent-soft); border-color: var(--accent); }
header.top { background: #141a2e; color: #e9edf7; display: flex; align-items: center; gap: 18px; padding: 0 18px; }
header.top .brand { font-weight: 650; letter-spacing: .2px; font-size: 14px; display: flex; align-items: center; gap: 8px; }
header.top .brand .logo { width: 18px; height: 18px; border-radius: 5px; background: linear-gradient(135deg, #4f8bff, #8b5cf6); display: inline-block; }
header.top .brand small { color: #97a1bd; font-weight: 400; }
header.top .stats { color: #aab3cc; font-size: 12px; display: flex; gap: 14px; margin-left: auto; }
header.top .stats b { color: #fff; font-weight: 600; }
#connection { font-size: 12px; padding: 3px 10px; border-radius: 999px; background: #2a3150; color: #c8cfe4; }
#connection.live { background: #163d2a; color: #7ee2a8; }
#connection.live::before { content: ""; display: inline-block; width: 7px; height: 7px; border-radius: 50%; background: #3ddc84; margin-right: 6px; vertical-align: 1px; }
#connection.offline { background: #4a1d1d; color: #ffb4b4; }
main.layout { display: grid; grid-template-columns: 284px minmax(0, 1fr) 330px; min-height: 0; }
aside.threads { background: var(--panel); border-right: 1px solid var(--line); display: flex; flex-direction: column; min-height: 0; }
.launch { padding: 12px 12px 10px; border-bottom: 1px solid var(--line); display: grid; grid-template-columns: 100px minmax(0, 1fr) auto; gap: 6px; }
.launch[hidden] { display: none; }
.filters { padding: 10px 12px; display: grid; grid-template-columns: 1fr 1fr; gap: 6px; border-bottom: 1px solid var(--line); }
.filters input { grid-column: 1 / -1; }
.list-head { padding: 8px 14px; color: var(--muted); font-size: 12px; display: flex; justify-content: space-between; border-bottom: 1px solid var(--line); }
#thread-list { flex: 1; overflow-y: auto; position: relative; min-height: 0; }
#thread-list .spacer { position: relative; width: 100%; }
.thread-row { position: absolute; left: 0; right: 0; height: 52px; padding: 8px 14px 8px 12px; border-bottom: 1px solid #f0f2f7; cursor: pointer; border-left: 3px solid transparent; }
.thread-row:hover { background: #f7f9fd; }
.thread-row.selected { background: var(--accent-soft); border-left-color: var(--accent); }
.thread-row .id { font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.thread-row .meta { color: var(--muted); font-size: 12px; display: flex; gap: 8px; align-items: center; white-space: nowrap; overflow: hidden; }
.thread-row .meta .when { margin-left: auto; color: var(--faint); }
.pill { display: inline-flex; align-items: center; gap: 5px; font-size: 11.5px; font-weight: 550; padding: 1px 8px; border-radius: 999px; background: #eef1f6; color: var(--muted); white-space: nowrap; }
.pill::before { content: ""; width: 6px; height: 6px; border-radius: 50%; background: currentColor; }
.pill.s-running { color: var(--running); background: #e9f0ff; }
.pill.s-awaiting_human { color: var(--awaiting_human); background: #fdf3e3; }
.pill.s-escalated { color: var(--escalated); background: #fdece5; }
.pill.s-backing_off { color: var(--backing_off); background: #f1ebfe; }
.pill.s-paused { color: var(--paused); background: #eef1f5; }
.pill.s-done { color: var(--done); background: #e6f6ec; }
.pill.s-failed { color: var(--failed); background: #fde8e8; }
.pill.s-cancelled { color: var(--cancelled); background: #f1f3f6; }
section.detail { overflow: auto; padding: 16px 20px 24px; min-width: 0; }
.empty { color: var(--muted); text-align: center; padding: 80px 20px; }
.thread-head { display: flex; align-items: flex-start; gap: 16px; margin-bottom: 12px; }
.thread-head > div:first-child { min-width: 0; flex: 1; }
.thread-head h1 { font-size: 15px; margin: 2px 0 6px; font-weight: 650; font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.thread-head .sub { color: var(--muted); display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
.figures { margin-left: auto; display: flex; gap: 8px; flex: none; }
.figure { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 6px 12px; min-width: 78px; }
.figure b { display: block; font-size: 15px; }
.figure span { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .4px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; margin-bottom: 14px; }
.card > h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .5px; color: var(--muted); margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line); display: flex; align-items: center; gap: 10px; font-weight: 600; }
.card > h2 .right { margin-left: auto; text-transform: none; letter-spacing: 0; font-weight: 400; }
#current-state { font-family: ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; font-weight: 650; color: #fff; background: var(--accent); padding: 2px 10px; border-radius: 6px; text-transform: none; letter-spacing: 0; }
#current-state.rest { background: #64748b; }
#current-state.none { background: #c3c9d6; }
.liveness { color: var(--muted); font-size: 12px; text-transform: none; letter-spacing: 0; font-weight: 400; }
#chart { padding: 6px 8px 8px; }
#chart svg { width: 100%; height: auto; display: block; max-height: max(360px, calc(100vh - 300px)); }
#chart .frame rect { fill: #fafbfd; stroke: #dfe4ee; }
#chart .frame text { fill: var(--faint); font-size: 11px; }
#chart .edge path { fill: none; stroke: #a9b2c6; stroke-width: 1.2; }
#chart .edge.k-error path { stroke: #efb1b1; stroke-dasharray: 4 3; }
#chart .edge.k-always path { stroke: #98a3bb; }
#chart .edge text { font-size: 9.5px; fill: #7d879c; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
#chart .edge.hot path { stroke: var(--accent); stroke-width: 1.8; }
#chart .edge.hot text { fill: var(--accent); font-weight: 600; }
#chart .node rect { fill: #fff; stroke: #b9c1d3; stroke-width: 1.2; }
#chart .node.final rect.outer { fill: none; }
#chart .node text.name { font-size: 12px; fill: var(--ink); font-weight: 550; }
#chart .node text.invoke { font-size: 9px; fill: var(--faint); }
#chart .node.active rect.box { fill: var(--tone, var(--accent)); stroke: var(--tone, var(--accent)); filter: drop-shadow(0 2px 6px rgba(47, 111, 237, .35)); }
#chart .node.active text.name, #chart .node.active text.invoke { fill: #fff; }
#chart .node.active.live rect.box { animation: pulse 1.6s ease-in-out infinite; }
@keyframes pulse { 50% { filter: drop-shadow(0 0 10px rgba(47, 111, 237, .7)); } }
#chart .initial-dot { fill: #5b6478; }
#pending { border-color: #f3c98b; background: #fffaf1; }
#pending > h2 { color: #a15c07; border-bottom-color: #f6dfb8; }
#pending .body { padding: 10px 14px 12px; display: grid; gap: 8px; }
#pending .question { font-size: 14px; font-weight: 550; }
#pending .args { background: #fff; border: 1px solid #f1e2c8; border-radius: 6px; padding: 6px 8px; }
#pending .actions { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
#approve { background: var(--done); border-color: var(--done); color: #fff; font-weight: 600; }
#deny { background: #fff; border-color: #e7b4b4; color: var(--failed); font-weight: 600; }
#answer-send { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
#answer-input { flex: 1; min-width: 160px; }
#comment-input { flex: 1; min-width: 140px; }
.choices { display: flex; gap: 6px; flex-wrap: wrap; }
.choices button { padding: 3px 10px; font-size: 12px; }
#pending-error { color: var(--failed); font-size: 12px; }
aside.side { background: var(--panel); border-left: 1px solid var(--line); display: grid; grid-template-rows: minmax(0, 1fr) minmax(0, 38%); min-height: 0; }
aside.side > section { display: flex; flex-direction: column; min-height: 0; }
aside.side > section + section { border-top: 1px solid var(--line); }
aside.side h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .5px; color: var(--muted); margin: 0; padding: 10px 14px; display: flex; gap: 8px; align-items: center; font-weight: 600; border-bottom: 1px solid var(--line); }
aside.side h2 .right { margin-left: auto; font-weight: 400; text-transform: none; letter-spacing: 0; }
#timeline { list-style: none; margin: 0; padding: 6px 0 12px; overflow-y: auto; flex: 1; }
#timeline li { padding: 7px 14px 7px 30px; position: relative; }
#timeline li::before { content: ""; position: absolute; left: 13px; top: 12px; width: 9px; height: 9px; border-radius: 50%; background: var(--dot, #c3c9d6); box-shadow: 0 0 0 3px #fff; }
#timeline li::after { content: ""; position: absolute; left: 17px; top: 24px; bottom: -8px; width: 1px; background: var(--line); }
#timeline li:last-child::after { display: none; }
#timeline .head { display: flex; gap: 6px; align-items: baseline; }
#timeline .kind { font-size: 11px; text-transform: uppercase; letter-spacing: .4px; color: var(--muted); font-weight: 600; }
#timeline .title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#timeline .time { margin-left: auto; color: var(--faint); font-size: 11px; white-space: nowrap; }
#timeline .body { margin-top: 2px; color: #3b4358; word-break: break-word; }
#timeline .body code { background: #f4f6fa; border-radius: 4px; padding: 1px 5px; display: inline-block; max-width: 100%; white-space: pre-wrap; word-break: break-all; }
#timeline .meta { color: var(--muted); font-size: 11.5px; margin-top: 2px; }
#timeline .ev-decision { --dot: var(--accent); }
#timeline .ev-tool_call { --dot: #0ea5e9; }
#timeline .ev-tool_result { --dot: #10b981; }
#timeline .ev-error, #timeline .ev-failed { --dot: var(--failed); }
#timeline .ev-error .title, #timeline .ev-failed .title { color: var(--failed); }
#timeline .ev-human_request, #timeline .ev-escalation { --dot: var(--awaiting_human); }
#timeline .ev-human_response { --dot: #a16207; }
#timeline .ev-final { --dot: var(--done); }
#timeline .ev-final .title { color: var(--done); }
#timeline .ev-control { --dot: var(--paused); }
.scroll { overflow: auto; flex: 1; }
#actors { width: 100%; border-collapse: collapse; font-size: 12px; table-layout: fixed; }
#actors th { text-align: left; color: var(--faint); font-weight: 500; padding: 6px 8px; position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); }
#actors td { padding: 5px 8px; border-bottom: 1px solid #f2f4f8; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#actors tr.rest td { color: var(--faint); }
#actors tr.proc td { background: #f6f8fb; color: var(--muted); font-size: 11.5px; padding: 4px 8px; border-bottom: 1px solid var(--line); }
#actors tr.proc .count { color: var(--faint); }
#actors tr.agent-row { cursor: pointer; }
#actors tr.agent-row:hover td { background: #f7f9fd; }
#actors td.state code { color: var(--accent); }
#actors tr.rest td.state code { color: var(--faint); }
#actors .dot { display: inline-block; width: 7px; height: 7px; border-radius: 50%; background: #cbd2df; margin-right: 6px; }
#actors tr.live .dot { background: #22c55e; }
.hint { color: var(--faint); font-size: 12px; padding: 10px 14px; }
label.toggle { font-size: 12px; color: var(--muted); display: inline-flex; gap: 4px; align-items: center; font-weight: 400; text-transform: none; letter-spacing: 0; }
`;

const SCRIPT = String.raw`
(function () {
  'use strict';
  var ROW = 52;
  var STATUSES = ['running', 'awaiting_human', 'escalated', 'backing_off', 'paused', 'done', 'failed', 'cancelled'];
  var STATE_OF_STATUS = { awaiting_human: 'awaitingHuman', escalated: 'escalated', paused: 'paused', backing_off: 'backingOff', done: 'done', failed: 'failed', cancelled: 'cancelled' };
  var TONE = { running: '#2f6fed', awaiting_human: '#d97706', escalated: '#e0592a', backing_off: '#8b5cf6', paused: '#64748b', done: '#16a34a', failed: '#dc2626', cancelled: '#94a3b8' };
  var base = location.pathname.replace(/\/inspector\/?$/, '');
  var params = new URLSearchParams(location.search);
  if (params.get('token')) {
    sessionStorage.setItem('switchyard.token', params.get('token'));
    params.delete('token');
    var rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
  }
  var token = sessionStorage.getItem('switchyard.token');

  var state = {
    threads: [], byId: new Map(), filtered: [],
    filter: { status: '', agent: '', text: '' },
    selected: null, view: null, viewLoading: false, viewStale: false,
    actors: new Map(), actorByThread: new Map(), processes: new Set(),
    graphs: new Map(), chartMachine: null, threadMachines: {},
  };

  function $(sel) { return document.querySelector(sel); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] == null || attrs[k] === false) continue;
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'class') node.className = attrs[k];
      else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
    }
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }
  var SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) if (attrs[k] != null) node.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) { if (c != null) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }
  function headers(extra) {
    var h = Object.assign({}, extra || {});
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }
  function api(path, init) {
    init = init || {};
    return fetch(base + path, Object.assign({}, init, { headers: headers(init.headers) })).then(function (res) {
      return res.text().then(function (text) {
        var body = {};
        try { body = text ? JSON.parse(text) : {}; } catch (e) { body = { error: text }; }
        if (!res.ok) {
          var message = (body && body.error) || (res.status + ' ' + res.statusText);
          if (body && body.issues && body.issues.length) message += ': ' + body.issues.join('; ');
          var error = new Error(message); error.status = res.status; throw error;
        }
        return body;
      });
    });
  }
  function json(value) {
    var text;
    try { text = typeof value === 'string' ? value : JSON.stringify(value); } catch (e) { text = String(value); }
    return text === undefined ? '' : text.length > 400 ? text.slice(0, 399) + '\u2026' : text;
  }
  function statusPill(status) { return el('span', { class: 'pill s-' + status, text: status.replace('_', ' ') }); }
  function ago(iso) {
    if (!iso) return '';
    var ms = Date.now() - Date.parse(iso);
    if (!isFinite(ms)) return '';
    if (ms < 5000) return 'now';
    if (ms < 60000) return Math.round(ms / 1000) + 's ago';
    if (ms < 3600000) return Math.round(ms / 60000) + 'm ago';
    if (ms < 86400000) return Math.round(ms / 3600000) + 'h ago';
    return new Date(iso).toISOString().slice(0, 10);
  }
  function duration(ms) {
    if (!isFinite(ms) || ms < 0) return '\u2013';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
    return Math.floor(ms / 60000) + 'm ' + Math.round((ms % 60000) / 1000) + 's';
  }

  // ---- threads list (virtualized: only the rows in view exist) ----------------------------------
  var list = $('#thread-list');
  var spacer = el('div', { class: 'spacer' });
  list.appendChild(spacer);
  var listFrame = 0;
  function scheduleList() { if (!listFrame) listFrame = requestAnimationFrame(function () { listFrame = 0; renderList(); }); }
  list.addEventListener('scroll', scheduleList, { passive: true });
  window.addEventListener('resize', scheduleList);

  function sortThreads() {
    state.threads.sort(function (a, b) { return (b.updatedAt || '').localeCompare(a.updatedAt || '') || (a.id < b.id ? -1 : 1); });
  }
  function applyFilter() {
    var f = state.filter, text = f.text.trim().toLowerCase();
    state.filtered = state.threads.filter(function (t) {
      return (!f.status || t.status === f.status) && (!f.agent || t.agent === f.agent) && (!text || t.id.toLowerCase().indexOf(text) >= 0 || t.agent.toLowerCase().indexOf(text) >= 0);
    });
    var total = state.threads.length, shown = state.filtered.length;
    $('#thread-count').textContent = shown === total ? total + ' thread' + (total === 1 ? '' : 's') : shown + ' of ' + total + ' threads';
    renderList();
  }
  function renderList() {
    var rows = state.filtered;
    spacer.style.height = rows.length * ROW + 'px';
    var top = list.scrollTop, height = list.clientHeight || 600;
    var first = Math.max(0, Math.floor(top / ROW) - 4);
    var last = Math.min(rows.length, Math.ceil((top + height) / ROW) + 4);
    var frag = document.createDocumentFragment();
    for (var i = first; i < last; i++) frag.appendChild(threadRow(rows[i], i));
    spacer.replaceChildren(frag);
    if (rows.length === 0) spacer.appendChild(el('div', { class: 'hint', text: state.threads.length ? 'No thread matches the filters.' : 'No threads yet: launch one.' }));
  }
  function threadRow(t, i) {
    return el('div', {
      class: 'thread-row' + (t.id === state.selected ? ' selected' : ''), 'data-id': t.id, style: 'top:' + i * ROW + 'px', title: t.id,
      onclick: function () { select(t.id); },
    }, [
      el('div', { class: 'id', text: t.id }),
      el('div', { class: 'meta' }, [statusPill(t.status), el('span', { text: t.agent }), el('span', { class: 'when', text: ago(t.updatedAt) })]),
    ]);
  }
  function upsertThread(row) {
    var existing = state.byId.get(row.id);
    if (existing) {
      if ((row.version || 0) < (existing.version || 0)) return false;
      Object.assign(existing, row);
    } else {
      existing = Object.assign({}, row);
      state.byId.set(row.id, existing);
      state.threads.push(existing);
      addAgentOption(row.agent);
    }
    return true;
  }
  var agentsSeen = new Set();
  function addAgentOption(agent) {
    if (!agent || agentsSeen.has(agent)) return;
    agentsSeen.add(agent);
    var select = $('#filter-agent');
    var options = Array.prototype.slice.call(select.options, 1).map(function (o) { return o.value; }).concat([agent]).sort();
    var current = select.value;
    select.replaceChildren(el('option', { value: '', text: 'all agents' }));
    options.forEach(function (a) { select.appendChild(el('option', { value: a, text: a })); });
    select.value = current;
  }
  function loadThreads() {
    return api('/inspector/api/threads?limit=10000').then(function (body) {
      body.threads.forEach(function (t) { upsertThread(t); });
      sortThreads();
      applyFilter();
      updateStats();
    }).catch(function (error) { showListError(error); });
  }
  function showListError(error) {
    spacer.replaceChildren(el('div', { class: 'hint', text: 'Could not load threads: ' + error.message + (error.status === 401 ? ' (open this page with ?token=<token>)' : '') }));
  }

  // ---- filters and launching ------------------------------------------------------------------
  var statusSelect = $('#filter-status');
  STATUSES.forEach(function (s) { statusSelect.appendChild(el('option', { value: s, text: s.replace('_', ' ') })); });
  statusSelect.addEventListener('change', function () { state.filter.status = statusSelect.value; list.scrollTop = 0; applyFilter(); });
  $('#filter-agent').addEventListener('change', function (e) { state.filter.agent = e.target.value; list.scrollTop = 0; applyFilter(); });
  var textTimer = 0;
  $('#filter-text').addEventListener('input', function (e) {
    clearTimeout(textTimer);
    textTimer = setTimeout(function () { state.filter.text = e.target.value; list.scrollTop = 0; applyFilter(); }, 80);
  });

  api('/agents').then(function (agents) {
    var select = $('#launch-agent');
    agents.forEach(function (a) { select.appendChild(el('option', { value: a.name, text: a.name, title: a.description || '' })); });
    if (agents.length) $('#launch').hidden = false;
  }).catch(function () { /* no HTTP API mounted: launching from the page is off */ });
  $('#launch').addEventListener('submit', function (e) {
    e.preventDefault();
    var raw = $('#launch-input').value.trim();
    var input;
    try { input = raw === '' ? '' : JSON.parse(raw); } catch (err) { input = raw; }
    var button = $('#launch-send');
    button.disabled = true;
    api('/threads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: $('#launch-agent').value, input: input }) })
      .then(function (view) {
        $('#launch-input').value = '';
        upsertThread(rowOfView(view)); sortThreads(); applyFilter(); updateStats();
        select(view.id);
      })
      .catch(function (error) { alert('Launch failed: ' + error.message); })
      .then(function () { button.disabled = false; });
  });
  function rowOfView(view) {
    return { id: view.id, agent: view.agent, status: view.status, version: view.version, createdAt: view.createdAt, updatedAt: view.updatedAt };
  }

  // ---- the selected thread --------------------------------------------------------------------
  function select(id) {
    if (state.selected !== id) { state.selected = id; state.view = null; }
    history.replaceState(null, '', location.pathname + location.search + '#thread=' + encodeURIComponent(id));
    renderList();
    refreshView();
  }
  function refreshView() {
    var id = state.selected;
    if (!id) return;
    if (state.viewLoading) { state.viewStale = true; return; }
    state.viewLoading = true;
    api('/inspector/api/threads/' + encodeURIComponent(id)).then(function (view) {
      if (state.selected !== id) return;
      state.view = view;
      upsertThread(rowOfView(view));
      renderDetail();
    }).catch(function (error) {
      if (state.selected !== id) return;
      $('#detail').replaceChildren(el('div', { class: 'empty', text: 'Could not load ' + id + ': ' + error.message }));
    }).then(function () {
      state.viewLoading = false;
      if (state.viewStale) { state.viewStale = false; refreshView(); }
    });
  }

  function figures(view) {
    var tokens = 0, decisions = 0;
    view.events.forEach(function (e) {
      if (e.type === 'decision') { tokens += e.data.tokens.prompt + e.data.tokens.completion; decisions++; }
      if (e.type === 'error' && e.data.tokens) tokens += e.data.tokens.prompt + e.data.tokens.completion;
    });
    var first = view.events[0], last = view.events[view.events.length - 1];
    var elapsed = first && last ? Date.parse(last.at) - Date.parse(first.at) : NaN;
    return { tokens: tokens, steps: decisions, elapsed: elapsed };
  }

  function renderDetail() {
    var view = state.view, detail = $('#detail');
    if (!view) return;
    var f = figures(view);
    var head = el('div', { class: 'thread-head' }, [
      el('div', {}, [
        el('h1', { id: 'thread-title', text: view.id, title: view.id }),
        el('div', { class: 'sub' }, [el('span', { id: 'thread-status' }, [statusPill(view.status)]), el('span', { text: 'agent ' + view.agent }), el('span', { text: 'v' + view.version })]),
      ]),
      el('div', { class: 'figures' }, [
        figure(String(f.steps), 'steps'), figure(f.tokens.toLocaleString('en-US'), 'tokens'), figure(duration(f.elapsed), 'elapsed'),
      ]),
    ]);
    var pending = view.pendingRequest ? pendingCard(view) : null;
    var chartCard = el('section', { class: 'card', id: 'chart-card' }, [
      el('h2', {}, ['Statechart', el('span', { id: 'current-state', class: 'none', text: '\u2013' }), el('span', { class: 'liveness', id: 'liveness' })]),
      el('div', { id: 'chart' }),
    ]);
    var keep = document.activeElement && document.activeElement.id === 'answer-input' ? $('#answer-input').value : null;
    detail.replaceChildren(head, pending || document.createComment('no pending request'), chartCard);
    if (keep !== null && $('#answer-input')) { $('#answer-input').value = keep; $('#answer-input').focus(); }
    renderTimeline(view);
    var machine = machineOfThread(view);
    machinesLoaded.then(function () { return loadGraph(machineOfThread(view)); }).then(function () { renderChart(machineOfThread(view)); }, function () {
      $('#chart').replaceChildren(el('div', { class: 'hint', text: 'No statechart for ' + machine + ' yet: it appears once one of its actors runs.' }));
    });
  }
  function figure(value, label) { return el('div', { class: 'figure' }, [el('b', { text: value }), el('span', { text: label })]); }

  function machineOfThread(view) {
    var actor = state.actorByThread.get(view.id);
    if (actor && actor.machine && actor.value != null) return actor.machine;
    return state.threadMachines[view.agent] || 'agent';
  }

  // ---- pending human request ------------------------------------------------------------------
  function pendingCard(view) {
    var req = view.pendingRequest;
    var title = req.kind === 'approval' ? 'Approval needed' : req.kind === 'escalation' ? 'Escalated to a human' : req.kind === 'interrupted' ? 'Interrupted tool call' : 'Question for a human';
    var body = el('div', { class: 'body' }, [el('div', { class: 'question', text: req.question })]);
    if (req.context) body.appendChild(el('div', { class: 'context', text: req.context }));
    if (req.tool && req.question.indexOf(req.tool) < 0) body.appendChild(el('div', { class: 'args' }, [el('code', { text: req.tool + ' ' + json(req.args || {}) })]));
    var error = el('div', { id: 'pending-error' });
    var comment = el('input', { id: 'comment-input', placeholder: 'comment (optional)' });
    function send(answer) {
      var payload = Object.assign({ requestId: req.requestId, by: 'inspector' }, answer);
      if (comment.value.trim()) payload.comment = comment.value.trim();
      body.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
      error.textContent = '';
      api('/threads/' + encodeURIComponent(view.id) + '/respond', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) })
        .then(function (next) { if (state.selected === view.id) { state.view = next; upsertThread(rowOfView(next)); sortThreads(); applyFilter(); renderDetail(); } })
        .catch(function (e) { error.textContent = e.message; body.querySelectorAll('button').forEach(function (b) { b.disabled = false; }); });
    }
    if (req.kind === 'input') {
      var input = el('input', { id: 'answer-input', placeholder: req.format === 'yes_no' ? 'yes or no' : 'your answer', autocomplete: 'off' });
      input.addEventListener('keydown', function (e) { if (e.key === 'Enter' && input.value.trim()) send({ answer: input.value.trim() }); });
      if (req.choices && req.choices.length) {
        body.appendChild(el('div', { class: 'choices' }, req.choices.map(function (c) { return el('button', { type: 'button', text: c, onclick: function () { input.value = c; input.focus(); } }); })));
      } else if (req.format === 'yes_no') {
        body.appendChild(el('div', { class: 'choices' }, ['yes', 'no'].map(function (c) { return el('button', { type: 'button', text: c, onclick: function () { input.value = c; } }); })));
      }
      body.appendChild(el('div', { class: 'actions' }, [input, el('button', { id: 'answer-send', type: 'button', text: 'Send answer', onclick: function () { if (input.value.trim()) send({ answer: input.value.trim() }); } })]));
      body.appendChild(el('div', { class: 'actions' }, [comment]));
    } else {
      var yes = req.kind === 'escalation' ? 'Continue' : req.kind === 'interrupted' ? 'Run it again' : 'Approve';
      var no = req.kind === 'escalation' ? 'Stop the agent' : req.kind === 'interrupted' ? 'Skip it' : 'Deny';
      body.appendChild(el('div', { class: 'actions' }, [
        el('button', { id: 'approve', type: 'button', text: yes, onclick: function () { send({ approved: true }); } }),
        el('button', { id: 'deny', type: 'button', text: no, onclick: function () { send({ approved: false }); } }),
        comment,
      ]));
    }
    body.appendChild(error);
    return el('section', { class: 'card', id: 'pending', 'data-request': req.requestId }, [
      el('h2', {}, [title, el('span', { class: 'right', text: req.urgency + ' urgency \u00b7 ' + req.requestId })]), body,
    ]);
  }

  // ---- timeline -------------------------------------------------------------------------------
  function renderTimeline(view) {
    var ul = $('#timeline');
    var t0 = view.events.length ? Date.parse(view.events[0].at) : 0;
    var items = view.events.map(function (e) { return timelineItem(e, t0); });
    ul.replaceChildren.apply(ul, items);
    $('#timeline-count').textContent = view.events.length + ' events';
    ul.scrollTop = ul.scrollHeight;
  }
  function timelineItem(e, t0) {
    var d = e.data, kind = e.type.replace('_', ' '), title = '', body = null, meta = '';
    switch (e.type) {
      case 'input': title = d.source ? 'from ' + d.source.kind : ''; body = json(d.input); break;
      case 'prefetch': title = d.name + (d.ok ? '' : ' failed'); body = d.ok ? json(d.result) : d.error; break;
      case 'decision': title = '#' + d.step + ' ' + d.intent; body = json(d.args); meta = d.tokens.prompt + ' + ' + d.tokens.completion + ' tokens \u00b7 ' + duration(d.latencyMs) + ' \u00b7 ' + d.model; break;
      case 'tool_call': title = d.tool; body = json(d.args); meta = 'attempt ' + d.attempt; break;
      case 'tool_result': title = d.tool; body = json(d.result); meta = 'took ' + duration(d.durationMs); break;
      case 'error': title = d.kind.replace('_', ' ') + (d.tool ? ' \u00b7 ' + d.tool : ''); body = d.message; meta = 'attempt ' + d.attempt + (d.retryAt ? ' \u00b7 retry at ' + d.retryAt.slice(11, 19) : '') + (d.tokens ? ' \u00b7 ' + (d.tokens.prompt + d.tokens.completion) + ' tokens' : ''); break;
      case 'human_request': title = d.kind + (d.tool ? ' \u00b7 ' + d.tool : ''); body = d.question; meta = d.urgency + ' urgency \u00b7 ' + d.format.replace('_', ' '); break;
      case 'human_response': title = d.approved === true ? 'approved' : d.approved === false ? 'denied' : 'answered'; body = d.answer || d.comment || null; meta = d.by ? 'by ' + d.by : ''; break;
      case 'control': title = d.action; body = d.reason || null; meta = d.by ? 'by ' + d.by : ''; break;
      case 'final': title = 'done'; body = json(d.output); break;
      case 'escalation': title = d.reason.replace(/_/g, ' '); body = d.message; break;
      case 'failed': title = 'failed'; body = d.reason; break;
      default: title = e.type; body = json(d);
    }
    return el('li', { class: 'ev ev-' + e.type, 'data-type': e.type, 'data-seq': String(e.seq) }, [
      el('div', { class: 'head' }, [el('span', { class: 'kind', text: kind }), el('span', { class: 'title', text: title }), el('span', { class: 'time', title: e.at, text: '+' + duration(Date.parse(e.at) - t0) })]),
      body == null || body === '' ? null : el('div', { class: 'body' }, [el('code', { text: body })]),
      meta ? el('div', { class: 'meta', text: meta }) : null,
    ]);
  }

  // ---- statechart -----------------------------------------------------------------------------
  function loadGraph(machine) {
    if (state.graphs.has(machine)) return Promise.resolve(state.graphs.get(machine));
    return api('/inspector/api/graph/' + encodeURIComponent(machine)).then(function (g) { state.graphs.set(machine, g); return g; });
  }
  function renderChart(machine) {
    var g = state.graphs.get(machine), holder = $('#chart');
    if (!g || !holder) return;
    var layout = g.layout, nodes = new Map(g.graph.nodes.map(function (n) { return [n.id, n]; }));
    var pad = 14;
    var root = svg('svg', { viewBox: (-pad) + ' ' + (-pad) + ' ' + (layout.width + 2 * pad) + ' ' + (layout.height + 2 * pad), role: 'img', 'aria-label': machine + ' statechart' });
    root.appendChild(svg('defs', {}, [
      svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '6', markerHeight: '6', orient: 'auto-start-reverse' }, [svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#a9b2c6' })]),
      svg('marker', { id: 'arrow-hot', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '6', markerHeight: '6', orient: 'auto-start-reverse' }, [svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#2f6fed' })]),
    ]));
    var frames = svg('g', { class: 'frames' }), edges = svg('g', { class: 'edges' }), boxes = svg('g', { class: 'nodes' });
    layout.boxes.forEach(function (b) {
      var n = nodes.get(b.id);
      if (b.container) {
        frames.appendChild(svg('g', { class: 'frame', 'data-state': n.path.join('.') }, [
          svg('rect', { x: b.x, y: b.y, width: b.width, height: b.height, rx: 12 }),
          svg('text', { x: b.x + 12, y: b.y + 17 }, [n.parent === null ? n.key + ' machine \u00b7 ' + g.graph.nodes.filter(function (x) { return x.parent !== null; }).length + ' states' : n.key]),
        ]));
        return;
      }
      var group = svg('g', { class: 'node' + (n.final ? ' final' : '') + (n.initial ? ' initial' : ''), 'data-state': n.path.join('.'), 'data-id': n.id });
      group.appendChild(svg('rect', { class: 'box', x: b.x, y: b.y, width: b.width, height: b.height, rx: 8 }));
      if (n.final) group.appendChild(svg('rect', { class: 'outer', x: b.x - 3, y: b.y - 3, width: b.width + 6, height: b.height + 6, rx: 10 }));
      var hasInvoke = n.invokes && n.invokes.length;
      group.appendChild(svg('text', { class: 'name', x: b.x + b.width / 2, y: b.y + (hasInvoke ? 14 : b.height / 2 + 4), 'text-anchor': 'middle' }, [n.key]));
      if (hasInvoke) group.appendChild(svg('text', { class: 'invoke', x: b.x + b.width / 2, y: b.y + 25.5, 'text-anchor': 'middle' }, ['invoke ' + n.invokes.join(', ')]));
      if (n.initial) {
        var ix = b.x - 16, iy = b.y + b.height / 2;
        if (nodes.get(n.parent) && layout.boxes.some(function (o) { return o.id === n.parent && o.x < ix - 4; })) {
          group.appendChild(svg('circle', { class: 'initial-dot', cx: ix - 6, cy: iy, r: 4 }));
          group.appendChild(svg('path', { d: 'M' + (ix - 2) + ',' + iy + ' L' + (b.x - 1) + ',' + iy, stroke: '#5b6478', 'marker-end': 'url(#arrow)' }));
        }
      }
      boxes.appendChild(group);
    });
    layout.paths.forEach(function (p) {
      var ends = p.edges.map(function (id) { var e = g.graph.edges.find(function (x) { return x.id === id; }); return e ? [e.source, e.target] : []; });
      var touches = new Set([].concat.apply([], ends));
      var group = svg('g', { class: 'edge k-' + p.kind, 'data-touches': Array.from(touches).map(function (id) { return nodes.get(id) ? nodes.get(id).path.join('.') : ''; }).join(' ') }, [
        svg('path', { d: p.d, 'marker-end': 'url(#arrow)', 'marker-start': p.both ? 'url(#arrow)' : null }),
        svg('text', { x: p.labelX, y: p.labelY - 2, 'text-anchor': 'middle' }, [p.label]),
      ]);
      edges.appendChild(group);
    });
    root.appendChild(frames); root.appendChild(edges); root.appendChild(boxes);
    holder.replaceChildren(root);
    state.chartMachine = machine;
    highlight();
  }
  function activePaths(value, prefix, out) {
    if (typeof value === 'string') { out.push(prefix.concat([value]).join('.')); return out; }
    if (value && typeof value === 'object') Object.keys(value).forEach(function (k) { out.push(prefix.concat([k]).join('.')); activePaths(value[k], prefix.concat([k]), out); });
    return out;
  }
  function valueName(value) {
    if (typeof value === 'string') return value;
    var paths = activePaths(value, [], []);
    return paths.length ? paths[paths.length - 1] : '\u2013';
  }
  /** The machine state of the selected thread: its latest actor's, unless the thread moved on since. */
  function currentState() {
    var view = state.view;
    if (!view) return null;
    var actor = state.actorByThread.get(view.id);
    if (actor && actor.value != null && (actor.version == null || actor.version >= view.version)) {
      return { value: actor.value, live: actor.status === 'active', actor: actor };
    }
    var derived = STATE_OF_STATUS[view.status];
    return derived ? { value: derived, live: false, actor: null } : { value: null, live: false, actor: null };
  }
  function highlight() {
    var holder = $('#chart'), label = $('#current-state');
    if (!holder || !label || !state.view) return;
    var current = currentState();
    var active = current && current.value != null ? activePaths(current.value, [], []) : [];
    var set = new Set(active);
    holder.querySelectorAll('.node').forEach(function (n) {
      var on = set.has(n.getAttribute('data-state'));
      n.classList.toggle('active', on);
      n.classList.toggle('live', on && current.live);
      if (on) n.style.setProperty('--tone', TONE[state.view.status] || '#2f6fed'); else n.style.removeProperty('--tone');
    });
    holder.querySelectorAll('.edge').forEach(function (e) {
      var touches = (e.getAttribute('data-touches') || '').split(' ');
      var hot = touches.some(function (t) { return set.has(t); });
      e.classList.toggle('hot', hot);
      e.querySelector('path').setAttribute('marker-end', hot ? 'url(#arrow-hot)' : 'url(#arrow)');
      if (e.querySelector('path').hasAttribute('marker-start')) e.querySelector('path').setAttribute('marker-start', hot ? 'url(#arrow-hot)' : 'url(#arrow)');
    });
    label.textContent = current && current.value != null ? valueName(current.value) : state.view.status;
    label.className = current && current.value != null ? (current.live ? 'live' : 'rest') : 'none';
    label.style.background = current && current.value != null ? TONE[state.view.status] || '' : '';
    var liveness = $('#liveness');
    if (liveness) {
      liveness.textContent = current && current.actor
        ? (current.live ? 'live \u00b7 actor ' + current.actor.sessionId + ' on ' + current.actor.processId : 'at rest \u00b7 no actor in memory')
        : 'from the thread\u2019s events';
      liveness.title = current && current.actor ? 'last actor ' + current.actor.key + ' (' + current.actor.status + ')' : '';
    }
  }

  // ---- live actors ----------------------------------------------------------------------------
  var showSteps = $('#show-steps');
  showSteps.addEventListener('change', renderActors);
  var actorsTimer = 0;
  function scheduleActors() { if (!actorsTimer) actorsTimer = setTimeout(function () { actorsTimer = 0; renderActors(); }, 200); }
  function renderActors() {
    var all = Array.from(state.actors.values()).sort(function (a, b) { return b.updatedAt - a.updatedAt; });
    var machines = all.filter(function (a) { return showSteps.checked || a.value != null; });
    var live = all.filter(function (a) { return a.status === 'active' && a.value != null; }).length;
    $('#actor-count').textContent = live + ' live \u00b7 ' + state.processes.size + ' process' + (state.processes.size === 1 ? '' : 'es');
    var byProcess = new Map();
    machines.slice(0, 150).forEach(function (a) {
      if (!byProcess.has(a.processId)) byProcess.set(a.processId, []);
      byProcess.get(a.processId).push(a);
    });
    var rows = [];
    byProcess.forEach(function (actors, processId) {
      var liveHere = actors.filter(function (a) { return a.status === 'active'; }).length;
      rows.push(el('tr', { class: 'proc' }, [el('td', { colspan: '3' }, [el('span', { class: 'mono', text: processId }), el('span', { class: 'count', text: ' \u00b7 ' + liveHere + ' live of ' + actors.length })])]));
      actors.forEach(function (a) {
        var isAgent = !!a.threadId;
        rows.push(el('tr', { class: 'actor ' + (a.status === 'active' ? 'live' : 'rest') + (isAgent ? ' agent-row' : ''), title: a.key + ' \u00b7 ' + a.status, onclick: isAgent ? function () { select(a.threadId); } : null, 'data-key': a.key, 'data-process': a.processId }, [
          el('td', { class: 'mono' }, [el('span', { class: 'dot' }), a.name]),
          el('td', { text: a.machine || '?' }),
          el('td', { class: 'state' }, [el('code', { text: a.value != null ? valueName(a.value) : a.status })]),
        ]));
      });
    });
    var body = $('#actors tbody');
    body.replaceChildren.apply(body, rows);
    $('#actors-empty').hidden = rows.length > 0;
    updateStats();
  }
  function applyActor(a) {
    state.actors.delete(a.key);
    state.actors.set(a.key, a);
    if (state.actors.size > 2000) state.actors.delete(state.actors.keys().next().value);
    state.processes.add(a.processId);
    if (!a.threadId || a.value == null) return;
    var previous = state.actorByThread.get(a.threadId);
    if (!previous || previous.key === a.key || a.updatedAt >= previous.updatedAt) state.actorByThread.set(a.threadId, a);
    var row = state.byId.get(a.threadId);
    if (a.version != null && a.threadStatus) {
      if (!row) upsertThread({ id: a.threadId, agent: a.agent || '?', status: a.threadStatus, version: a.version, updatedAt: new Date(a.updatedAt).toISOString() });
      else if (a.version > (row.version || 0)) Object.assign(row, { status: a.threadStatus, version: a.version, updatedAt: new Date(a.updatedAt).toISOString() });
    }
  }
  function updateStats() {
    $('#stat-threads').textContent = state.threads.length.toLocaleString('en-US');
    $('#stat-waiting').textContent = state.threads.filter(function (t) { return t.status === 'awaiting_human' || t.status === 'escalated'; }).length.toLocaleString('en-US');
    $('#stat-processes').textContent = String(state.processes.size);
  }

  // ---- live stream (server-sent events over fetch, so the token can be sent) ----------------------
  var connection = $('#connection');
  var connectedOnce = false;
  function setConnection(kind, text) { connection.className = kind; connection.textContent = text; }
  function connect() {
    setConnection('', 'connecting\u2026');
    fetch(base + '/inspector/stream', { headers: headers({ accept: 'text/event-stream' }), cache: 'no-store' }).then(function (res) {
      if (!res.ok || !res.body) throw new Error('stream answered ' + res.status);
      setConnection('live', 'live');
      if (connectedOnce) loadThreads();
      connectedOnce = true;
      var reader = res.body.getReader(), decoder = new TextDecoder(), buffer = '';
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error('stream ended');
          buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, '\n');
          var parts = buffer.split('\n\n');
          buffer = parts.pop();
          parts.forEach(handleBlock);
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      setConnection('offline', 'reconnecting\u2026');
      setTimeout(connect, 1500);
    });
  }
  function handleBlock(block) {
    var event = 'message', data = [];
    block.split('\n').forEach(function (line) {
      if (!line || line[0] === ':') return;
      var i = line.indexOf(':'), field = i < 0 ? line : line.slice(0, i), value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value; else if (field === 'data') data.push(value);
    });
    if (!data.length) return;
    var payload;
    try { payload = JSON.parse(data.join('\n')); } catch (e) { return; }
    if (event === 'hello') { (payload.processes || []).forEach(function (p) { state.processes.add(p.processId); }); updateStats(); }
    else if (event === 'actors') onActors(payload);
    else if (event === 'threads') onThreads(payload);
  }
  function onActors(records) {
    var touched = false, moved = false;
    records.forEach(function (a) {
      applyActor(a);
      if (state.selected && a.threadId === state.selected) {
        touched = true;
        if (state.view && a.version != null && a.version > state.view.version) moved = true;
      }
    });
    scheduleActors();
    sortThreads(); applyFilter();
    if (touched) highlight();
    if (moved) refreshView();
  }
  function onThreads(rows) {
    var refresh = false;
    rows.forEach(function (r) {
      upsertThread(r);
      if (r.id === state.selected && (!state.view || r.version !== state.view.version)) refresh = true;
    });
    sortThreads(); applyFilter(); updateStats();
    if (refresh) refreshView();
  }

  // ---- start ----------------------------------------------------------------------------------
  var machinesLoaded = api('/inspector/api/machines').then(function (body) { state.threadMachines = body.threadMachines || {}; }, function () {});
  loadThreads().then(function () {
    var match = /thread=([^&]+)/.exec(location.hash);
    if (match) select(decodeURIComponent(match[1]));
  });
  connect();
  setInterval(function () { renderList(); }, 15000);
})();
`;

const BODY = String.raw`
<header class="top">
  <div class="brand"><span class="logo"></span>switchyard <small>inspector</small></div>
  <span id="connection">connecting…</span>
  <div class="stats"><span><b id="stat-threads">0</b> threads</span><span><b id="stat-waiting">0</b> waiting for a human</span><span><b id="stat-processes">0</b> processes</span></div>
</header>
<main class="layout">
  <aside class="threads">
    <form class="launch" id="launch" hidden>
      <select id="launch-agent" aria-label="agent"></select>
      <input id="launch-input" placeholder="input…" title="the input: text or JSON" aria-label="input" autocomplete="off">
      <button id="launch-send" type="submit">Launch</button>
    </form>
    <div class="filters">
      <select id="filter-status" aria-label="status"><option value="">all statuses</option></select>
      <select id="filter-agent" aria-label="agent"><option value="">all agents</option></select>
      <input id="filter-text" type="search" placeholder="filter by id or agent" aria-label="filter">
    </div>
    <div class="list-head"><span id="thread-count">loading…</span><span>most recent first</span></div>
    <div id="thread-list" role="list"></div>
  </aside>
  <section class="detail" id="detail"><div class="empty">Select a thread to see its statechart, timeline and pending requests.</div></section>
  <aside class="side">
    <section>
      <h2>Timeline <span class="right" id="timeline-count"></span></h2>
      <ul id="timeline"></ul>
    </section>
    <section>
      <h2>Live actors <span id="actor-count" class="right"></span><label class="toggle"><input type="checkbox" id="show-steps"> steps</label></h2>
      <div class="scroll">
        <table id="actors"><colgroup><col style="width:40%"><col style="width:25%"><col style="width:35%"></colgroup>
          <thead><tr><th>actor</th><th>machine</th><th>state</th></tr></thead><tbody></tbody></table>
        <div class="hint" id="actors-empty">No actors seen yet. Processes publish them on the bus when they run with the inspector on.</div>
      </div>
    </section>
  </aside>
</main>
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>switchyard inspector</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;
