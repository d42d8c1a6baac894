// @ts-check
// Small DOM helpers: building elements and SVG, and formatting numbers, times and JSON for display.

/**
 * @param {string} selector
 * @returns {HTMLElement}
 */
export function $(selector) {
  const found = document.querySelector(selector);
  if (!(found instanceof HTMLElement)) throw new Error(`the page has no ${selector}`);
  return found;
}

/** @typedef {string | Node | null | undefined | false} Child */
/** @typedef {Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>} Attrs */

/**
 * An element with attributes (`text` sets its text, `class` its class, `on<event>` a listener) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {Child[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'class') node.className = String(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';

/**
 * An SVG element with attributes and children.
 * @param {string} tag
 * @param {Record<string, string | number | null | undefined>} [attrs]
 * @param {Child[]} [children]
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, children = []) {
  const node = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [key, value] of Object.entries(attrs)) if (value != null) node.setAttribute(key, String(value));
  append(node, children);
  return node;
}

/**
 * @param {Node} node
 * @param {Child[]} children
 */
function append(node, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/**
 * A value as one line of JSON, at most 400 characters.
 * @param {unknown} value
 */
export function json(value) {
  let text;
  try {
    text = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) return '';
  return text.length > 400 ? `${text.slice(0, 399)}…` : text;
}

/**
 * A thread status as a coloured pill.
 * @param {string} status
 */
export function statusPill(status) {
  return el('span', { class: `pill s-${status}`, text: status.replace('_', ' ') });
}

/**
 * How long ago an ISO time was: `now`, `12s ago`, `3m ago`, `2h ago`, or the date.
 * @param {string | undefined} iso
 */
export function ago(iso) {
  if (!iso) return '';
  const ms = Date.now() - Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  if (ms < 5000) return 'now';
  if (ms < 60_000) return `${Math.round(ms / 1000)}s ago`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m ago`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)}h ago`;
  return new Date(iso).toISOString().slice(0, 10);
}

/**
 * The clock time of an instant in the browser's time zone, `HH:MM:SS` (as the CLI gives times).
 * @param {string | number} at an ISO time or epoch ms
 */
export function clockTime(at) {
  return new Date(at).toLocaleTimeString('en-GB', { hour12: false });
}

/**
 * A deadline as the CLI gives it: `HH:MM:SS` on the local day of `from` (an event's time, or now),
 * else `YYYY-MM-DD HH:MM:SS`, so a sleep of days does not read as one ending today.
 * @param {string | number} at an ISO time or epoch ms
 * @param {string | number} from an ISO time or epoch ms
 */
export function deadlineTime(at, from) {
  const day = (/** @type {string | number} */ t) => new Date(t).toLocaleDateString('sv-SE');
  return day(at) === day(from) ? clockTime(at) : `${day(at)} ${clockTime(at)}`;
}

/**
 * A duration: `350 ms`, `2.35 s`, `4m 12s`; a dash when unknown.
 * @param {number} ms
 */
export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)}m ${Math.round((ms % 60_000) / 1000)}s`;
}

/**
 * A count with thousands separators.
 * @param {number} n
 */
export function count(n) {
  return n.toLocaleString('en-US');
}
