// @ts-check
// Draws a machine's statechart from the layout the server computed (elkjs), and highlights the
// active states. Each state is a `g.node[data-state="<path>"]`, each frame a `g.frame`, each line a
// `g.edge` whose label is a `g.label`.
import { svg } from './dom.js';

/** @typedef {import('./types.js').Chart} Chart */
/** @typedef {import('./types.js').NodeBox} NodeBox */
/** @typedef {import('./types.js').EdgeRoute} EdgeRoute */
/** @typedef {import('./types.js').TextBox} TextBox */
/** @typedef {import('./types.js').GraphNode} GraphNode */

const PAD = 12;
const CORNER = 6;
/** Inside a label's background, each side. */
const LABEL_INSET = 4;

/**
 * Draws `chart` into `holder`, replacing what was there.
 * @param {HTMLElement} holder
 * @param {Chart} chart
 */
export function drawChart(holder, chart) {
  const { graph, layout } = chart;
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const root = svg('svg', {
    viewBox: `${-PAD} ${-PAD} ${layout.width + 2 * PAD} ${layout.height + 2 * PAD}`,
    width: layout.width + 2 * PAD,
    role: 'img',
    'aria-label': `${graph.id} statechart`,
    'data-machine': graph.id,
  });
  root.appendChild(svg('defs', {}, [marker('arrow'), marker('arrow-hot')]));
  const frames = svg('g', { class: 'frames' });
  const states = svg('g', { class: 'nodes' });
  for (const box of layout.boxes) {
    const node = nodes.get(box.id);
    if (node === undefined) continue;
    if (box.container) frames.appendChild(frame(box, node));
    else states.appendChild(state(box, node));
  }
  const lines = svg('g', { class: 'edges' });
  const labels = svg('g', { class: 'labels' });
  for (const route of layout.routes) {
    const ends = [nodes.get(route.source), nodes.get(route.target)].map((n) => (n ? n.path.join('.') : ''));
    lines.appendChild(line(route, ends));
    if (route.label) labels.appendChild(label(route, route.label, ends));
  }
  root.append(frames, lines, states, labels);
  holder.replaceChildren(root);
  fitText(root);
}

/**
 * @param {string} id
 */
function marker(id) {
  return svg('marker', { id, class: id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, [
    svg('path', { d: 'M0,0 L10,5 L0,10 z' }),
  ]);
}

/**
 * A compound state (or the machine): a frame with its title at the top left.
 * @param {NodeBox} box
 * @param {GraphNode} node
 */
function frame(box, node) {
  const kind = node.parent === null ? ' machine' : node.type === 'parallel' ? ' parallel' : '';
  return svg('g', { class: `frame${kind}`, 'data-state': node.path.join('.'), 'data-id': node.id }, [
    svg('rect', { x: box.x, y: box.y, width: box.width, height: box.height, rx: 10 }),
    text(box.title, 'title', 'start'),
  ]);
}

/**
 * An atomic or final state: a box with its name, and what it runs under it.
 * @param {NodeBox} box
 * @param {GraphNode} node
 */
function state(box, node) {
  const custom = node.invokes.includes('custom');
  const classes = ['node', node.final && 'final', node.initial && 'initial', custom && 'custom'].filter(Boolean).join(' ');
  const ring = node.final ? 3 : 0;
  const step = node.pipelineStep ? { 'data-step': node.pipelineStep.name } : {};
  const group = svg('g', { class: classes, 'data-state': node.path.join('.'), 'data-id': node.id, ...step }, [
    svg('title', {}, [custom ? `${node.key}: a step of the agent's author` : node.key]),
  ]);
  if (node.final) group.appendChild(svg('rect', { class: 'ring', x: box.x, y: box.y, width: box.width, height: box.height, rx: 10 }));
  group.appendChild(svg('rect', { class: 'box', x: box.x + ring, y: box.y + ring, width: box.width - 2 * ring, height: box.height - 2 * ring, rx: 7 }));
  group.appendChild(text(box.title, 'name'));
  if (box.caption) group.appendChild(text(box.caption, 'caption'));
  return group;
}

/**
 * A line, with an arrowhead (and a dot where an initial arrow starts).
 * @param {EdgeRoute} route
 * @param {string[]} ends the paths of the states it joins
 */
function line(route, ends) {
  const group = svg('g', { class: `edge k-${route.kind}`, 'data-edge': route.id, 'data-touches': ends.join(' ') }, [
    svg('title', {}, [describe(route)]),
    svg('path', { d: pathOf(route.points), 'marker-end': 'url(#arrow)' }),
  ]);
  const start = route.points[0];
  if (route.kind === 'initial' && start) group.appendChild(svg('circle', { class: 'initial-dot', cx: start.x, cy: start.y, r: 4 }));
  return group;
}

/**
 * A line's label on a background, drawn above every line.
 * @param {EdgeRoute} route
 * @param {TextBox} box
 * @param {string[]} ends
 */
function label(route, box, ends) {
  return svg('g', { class: `label k-${route.kind}`, 'data-edge': route.id, 'data-touches': ends.join(' ') }, [
    svg('title', {}, [describe(route)]),
    svg('rect', { x: box.x, y: box.y, width: box.width, height: box.height, rx: 3 }),
    text(box, 'text'),
  ]);
}

/**
 * @param {EdgeRoute} route
 */
function describe(route) {
  if (route.kind === 'initial') return 'initial state';
  const guards = route.guards.length > 0 ? ` [${route.guards.join(', ')}]` : '';
  return `${route.label ? route.label.text : route.kind}${guards}`;
}

/**
 * Text centred in its box (or from its left edge), its measured width kept in `data-fit`.
 * @param {TextBox} box
 * @param {string} className
 * @param {'middle' | 'start'} [anchor]
 */
function text(box, className, anchor = 'middle') {
  const x = anchor === 'middle' ? box.x + box.width / 2 : box.x;
  return svg('text', { class: className, x, y: box.y + box.height / 2, 'font-size': box.size, 'text-anchor': anchor, 'dominant-baseline': 'central', 'data-fit': box.width - (className === 'text' ? 2 * LABEL_INSET : 2) }, [box.text]);
}

/**
 * The layout measured text in DejaVu Sans; a browser without it may draw wider glyphs. Those texts
 * are squeezed into their box rather than let out of it.
 * @param {SVGElement} root
 */
function fitText(root) {
  for (const node of root.querySelectorAll('text[data-fit]')) {
    if (!(node instanceof SVGTextElement)) continue;
    const room = Number(node.getAttribute('data-fit'));
    if (room > 0 && node.getComputedTextLength() > room) {
      node.setAttribute('textLength', String(room));
      node.setAttribute('lengthAdjust', 'spacingAndGlyphs');
    }
  }
}

/**
 * An orthogonal polyline with rounded corners.
 * @param {readonly { x: number, y: number }[]} points
 */
export function pathOf(points) {
  const [first, ...rest] = points;
  if (first === undefined) return '';
  let d = `M${first.x},${first.y}`;
  for (let i = 0; i < rest.length; i++) {
    const corner = rest[i];
    const next = rest[i + 1];
    const previous = i === 0 ? first : rest[i - 1];
    if (corner === undefined || previous === undefined) continue;
    if (next === undefined) {
      d += ` L${corner.x},${corner.y}`;
      continue;
    }
    const r = Math.min(CORNER, distance(previous, corner) / 2, distance(corner, next) / 2);
    const a = toward(corner, previous, r);
    const b = toward(corner, next, r);
    d += ` L${a.x},${a.y} Q${corner.x},${corner.y} ${b.x},${b.y}`;
  }
  return d;
}

/**
 * @param {{ x: number, y: number }} a
 * @param {{ x: number, y: number }} b
 */
function distance(a, b) {
  return Math.hypot(b.x - a.x, b.y - a.y);
}

/**
 * The point `r` from `from` toward `to`.
 * @param {{ x: number, y: number }} from
 * @param {{ x: number, y: number }} to
 * @param {number} r
 */
function toward(from, to, r) {
  const length = distance(from, to) || 1;
  const round = (/** @type {number} */ n) => Math.round(n * 10) / 10;
  return { x: round(from.x + ((to.x - from.x) * r) / length), y: round(from.y + ((to.y - from.y) * r) / length) };
}

/**
 * Marks the states whose paths are in `active`, and the lines into or out of them. With `step`
 * (the pipeline step the thread is in, which may wait in a state every step reaches, such as
 * `waitingForChild`), that step's state is marked `via`, and of the lines between an active state
 * and a step's state only those of that step are lit.
 * @param {HTMLElement} holder
 * @param {Set<string>} active
 * @param {{ tone: string, live: boolean, step?: string | null }} style
 */
export function highlightChart(holder, active, style) {
  /** The paths of the pipeline's step states, and the one of the step the thread is in. */
  const steps = new Set();
  let via = null;
  for (const node of holder.querySelectorAll('.node')) {
    if (!(node instanceof SVGElement)) continue;
    const path = node.getAttribute('data-state') ?? '';
    const on = active.has(path);
    const step = node.getAttribute('data-step');
    if (step !== null) steps.add(path);
    if (step !== null && step === style.step) via = path;
    node.classList.toggle('active', on);
    node.classList.toggle('live', on && style.live);
    node.classList.toggle('via', step !== null && step === style.step && !on);
    if (on || node.classList.contains('via')) node.style.setProperty('--tone', style.tone);
    else node.style.removeProperty('--tone');
  }
  for (const edge of holder.querySelectorAll('.edge, .label')) {
    const ends = (edge.getAttribute('data-touches') ?? '').split(' ');
    const otherStep = via !== null && ends.some((path) => steps.has(path) && path !== via && !active.has(path));
    const hot = ends.some((path) => active.has(path)) && !otherStep;
    edge.classList.toggle('hot', hot);
    edge.querySelector('path')?.setAttribute('marker-end', hot ? 'url(#arrow-hot)' : 'url(#arrow)');
  }
}
