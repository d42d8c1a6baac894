// @ts-check
// The card of a thread's pending human request: approve or deny (continue or stop, for an
// escalation; run again or skip, for an interrupted call; did not or did take effect, for one whose
// tool is gone), or answer a question.
import { ApiError, respond } from './api.js';
import { el, json } from './dom.js';

/** @typedef {import('./types.js').ThreadView} ThreadView */
/** @typedef {import('./types.js').HumanRequest} HumanRequest */

const TITLES = { approval: 'Approval needed', escalation: 'Escalated to a human', interrupted: 'Interrupted tool call', input: 'Question for a human' };
const CHOICES = {
  approval: ['Approve', 'Deny'],
  escalation: ['Continue', 'Stop the agent'],
  interrupted: ['Run it again', 'Skip it'],
};
/** An interrupted call whose tool the agent's version no longer has: nothing runs it again. */
const GONE_TOOL_CHOICES = ['It did not take effect', 'It took effect'];

/**
 * The card for `view`'s pending request; `answered` gets the thread as the answer left it;
 * `refused` is told when the server refused the answer because the request is no longer open
 * (409: someone answered first, or the thread moved on), which the card, re-rendered away, cannot say.
 * @param {ThreadView} view
 * @param {HumanRequest} req
 * @param {(next: ThreadView) => void} answered
 * @param {(requestId: string, message: string) => void} [refused]
 */
export function pendingCard(view, req, answered, refused) {
  const body = el('div', { class: 'body' }, [el('div', { class: 'question', text: req.question })]);
  if (req.context) body.appendChild(el('div', { class: 'context', text: req.context }));
  if (req.tool && !req.question.includes(req.tool)) body.appendChild(el('div', { class: 'args' }, [el('code', { text: `${req.tool} ${json(req.args ?? {})}` })]));
  const error = el('div', { id: 'pending-error' });
  const comment = el('input', { id: 'comment-input', placeholder: 'comment (optional)' });
  /** @param {Record<string, unknown>} answer */
  const send = async (answer) => {
    const buttons = [...body.querySelectorAll('button')];
    for (const b of buttons) b.disabled = true;
    error.textContent = '';
    try {
      const text = comment.value.trim();
      answered(await respond(view.id, { requestId: req.requestId, by: 'inspector', ...answer, ...(text ? { comment: text } : {}) }));
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
      if (e instanceof ApiError && e.status === 409 && refused) refused(req.requestId, e.message);
      for (const b of buttons) b.disabled = false;
    }
  };
  if (req.kind === 'input') answerForm(body, req, comment, send);
  else verdictButtons(body, req.rerun === false ? GONE_TOOL_CHOICES : CHOICES[req.kind], comment, send);
  body.appendChild(error);
  return el('section', { class: 'card', id: 'pending', 'data-request': req.requestId }, [
    el('h2', {}, [TITLES[req.kind], el('span', { class: 'right', text: `${req.urgency} urgency · ${req.requestId}` })]),
    body,
  ]);
}

/**
 * A free answer (with the request's choices, or yes and no, as shortcuts).
 * @param {HTMLElement} body
 * @param {HumanRequest} req
 * @param {HTMLInputElement} comment
 * @param {(answer: Record<string, unknown>) => void} send
 */
function answerForm(body, req, comment, send) {
  const input = el('input', { id: 'answer-input', placeholder: req.format === 'yes_no' ? 'yes or no' : 'your answer', autocomplete: 'off' });
  const submit = () => {
    if (input.value.trim()) send({ answer: input.value.trim() });
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') submit();
  });
  const choices = req.choices && req.choices.length ? req.choices : req.format === 'yes_no' ? ['yes', 'no'] : [];
  if (choices.length) {
    const pick = (/** @type {string} */ choice) => () => {
      input.value = choice;
      input.focus();
    };
    body.appendChild(el('div', { class: 'choices' }, choices.map((c) => el('button', { type: 'button', text: c, onclick: pick(c) }))));
  }
  body.appendChild(el('div', { class: 'actions' }, [input, el('button', { id: 'answer-send', type: 'button', text: 'Send answer', onclick: submit })]));
  body.appendChild(el('div', { class: 'actions' }, [comment]));
}

/**
 * Yes and no, worded for the request.
 * @param {HTMLElement} body
 * @param {readonly string[]} choices the words of yes and no
 * @param {HTMLInputElement} comment
 * @param {(answer: Record<string, unknown>) => void} send
 */
function verdictButtons(body, choices, comment, send) {
  const [yes, no] = choices;
  body.appendChild(
    el('div', { class: 'actions' }, [
      el('button', { id: 'approve', type: 'button', text: yes, onclick: () => send({ approved: true }) }),
      el('button', { id: 'deny', type: 'button', text: no, onclick: () => send({ approved: false }) }),
      comment,
    ]),
  );
}
