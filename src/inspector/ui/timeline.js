// @ts-check
// The selected thread's events, one item each: what happened, when (since the first event), and
// the figures that matter (tokens, latency, durations, attempts).
import { $, deadlineTime, duration, el, json } from './dom.js';

/** @typedef {import('./types.js').ThreadView} ThreadView */
/** @typedef {import('./types.js').ThreadEvent} ThreadEvent */

/**
 * @param {ThreadView} view
 */
export function renderTimeline(view) {
  const ul = $('#timeline');
  const t0 = view.events[0] ? Date.parse(view.events[0].at) : 0;
  // When each call (its latest start) was journaled: a result's item says how long it took from there.
  /** @type {Map<string, number>} */
  const calls = new Map();
  ul.replaceChildren(
    ...view.events.map((e) => {
      if (e.type === 'tool_call') calls.set(e.data.callId, Date.parse(e.at));
      return timelineItem(e, t0, calls);
    }),
  );
  $('#timeline-count').textContent = `${view.events.length} events`;
  ul.scrollTop = ul.scrollHeight;
}

/** Empties the timeline: no thread is shown (none selected, or the selected one could not be loaded). */
export function clearTimeline() {
  $('#timeline').replaceChildren();
  $('#timeline-count').textContent = '';
}

/**
 * @param {ThreadEvent} e
 * @param {number} t0
 * @param {ReadonlyMap<string, number>} calls
 */
function timelineItem(e, t0, calls) {
  const { title, body, meta } = describe(e, calls);
  const child = delegationOf(e);
  return el('li', { class: `ev ev-${e.type}`, 'data-type': e.type, 'data-seq': String(e.seq) }, [
    el('div', { class: 'head' }, [
      el('span', { class: 'kind', text: e.type.replace('_', ' ') }),
      el('span', { class: 'title', text: title }),
      el('span', { class: 'time', title: e.at, text: `+${duration(Date.parse(e.at) - t0)}` }),
    ]),
    // On a line of its own: beside the step's name it left the name no room.
    child ? el('div', { class: 'delegated' }, ['↳ ', threadLink(child.threadId)]) : null,
    body == null || body === '' ? null : el('div', { class: 'body' }, [el('code', { text: body })]),
    meta ? el('div', { class: 'meta', text: meta }) : null,
  ]);
}

/**
 * @param {{ prompt: number, completion: number }} tokens
 */
const total = (tokens) => tokens.prompt + tokens.completion;

/**
 * A link that selects a thread (through the address, as the page opens one).
 * @param {string} id
 */
export function threadLink(id) {
  return el('a', { class: 'thread-link', href: `#thread=${encodeURIComponent(id)}`, text: id });
}

/**
 * The child thread a pipeline's step delegated to, when the event is such a delegation (its
 * journaled `{ threadId, agent }`, as the server reads it).
 * @param {ThreadEvent} e
 * @returns {{ threadId: string, agent: string } | null}
 */
export function delegationOf(e) {
  if (e.type !== 'tool_call') return null;
  const { threadId, agent } = e.data.args;
  return typeof threadId === 'string' && typeof agent === 'string' ? { threadId, agent } : null;
}

/**
 * What an event's item says.
 * @param {ThreadEvent} e
 * @param {ReadonlyMap<string, number>} calls
 * @returns {{ title: string, body?: string | null, meta?: string }}
 */
function describe(e, calls) {
  switch (e.type) {
    case 'input':
      return { title: e.data.source ? `from ${e.data.source.kind}` : '', body: json(e.data.input) };
    case 'prefetch':
      return { title: e.data.name + (e.data.ok ? '' : ' failed'), body: e.data.ok ? json(e.data.result) : (e.data.error ?? null) };
    case 'decision': {
      const d = e.data;
      return { title: `#${d.step} ${d.intent}`, body: json(d.args), meta: `${d.tokens.prompt} + ${d.tokens.completion} tokens · ${duration(d.latencyMs)} · ${d.model}` };
    }
    case 'tool_call':
      return { title: e.data.tool, body: json(e.data.args), meta: `attempt ${e.data.attempt}` };
    case 'tool_result': {
      // From its call to its result: a pipeline's delegation or sleep records no run time of its own.
      const called = calls.get(e.data.callId);
      const took = called === undefined ? e.data.durationMs : Math.max(e.data.durationMs, Date.parse(e.at) - called);
      return { title: e.data.tool, body: json(e.data.result), meta: `took ${duration(took)}` };
    }
    case 'error': {
      const d = e.data;
      const retry = d.retryAt ? ` · retry at ${deadlineTime(d.retryAt, e.at)}` : '';
      const tokens = d.tokens ? ` · ${total(d.tokens)} tokens` : '';
      // What the model sent with a decision that was refused (invalid_args, unknown_intent), clipped.
      const body = d.args === undefined ? d.message : `${d.message}\nargs: ${json(d.args)}`;
      return { title: d.kind.replace('_', ' ') + (d.tool ? ` · ${d.tool}` : ''), body, meta: `attempt ${d.attempt}${retry}${tokens}` };
    }
    case 'human_request':
      return { title: e.data.kind + (e.data.tool ? ` · ${e.data.tool}` : ''), body: e.data.question, meta: `${e.data.urgency} urgency · ${e.data.format.replace('_', ' ')}` };
    case 'human_response': {
      const d = e.data;
      return { title: d.approved === true ? 'approved' : d.approved === false ? 'denied' : 'answered', body: d.answer || d.comment || null, meta: d.by ? `by ${d.by}` : '' };
    }
    case 'control':
      return { title: e.data.action, body: e.data.reason || null, meta: e.data.by ? `by ${e.data.by}` : '' };
    case 'final':
      return { title: 'done', body: json(e.data.output) };
    case 'escalation':
      return { title: e.data.reason.replace(/_/g, ' '), body: e.data.message };
    case 'failed':
      return { title: 'failed', body: e.data.reason };
    case 'custom':
      return customItem(e.data, e.at);
    default:
      return { title: /** @type {{ type: string }} */ (e).type, body: json(/** @type {{ data: unknown }} */ (e).data) };
  }
}

/**
 * A step of the agent's author: its name, verdict or output.
 * @param {Extract<ThreadEvent, { type: 'custom' }>['data']} d
 * @param {string} at the event's time
 */
function customItem(d, at) {
  const until = d.until === undefined ? '' : ` · sleeps until ${deadlineTime(d.until, at)}`;
  const body = d.feedback ?? (d.output === undefined ? null : json(d.output));
  return { title: d.step + (d.verdict ? ` · ${d.verdict}` : ''), body, meta: d.phase.replace('_', ' ') + until };
}
