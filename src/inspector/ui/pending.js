// @ts-check
// The card of a thread's pending human request: approve or deny (run again or skip, for an
// interrupted call; did not or did take effect, for one whose tool is gone), continue with guidance
// or stop (an escalation), or answer a question.
import { ApiError, respond } from './api.js';
import { el, json } from './dom.js';

/** @typedef {import('./types.js').ThreadView} ThreadView */
/** @typedef {import('./types.js').HumanRequest} HumanRequest */

const TITLES = { approval: 'Approval needed', escalation: 'Escalated to a human', interrupted: 'Interrupted tool call', input: 'Question for a human' };
const CHOICES = {
  approval: ['Approve', 'Deny'],
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
  const comment = el('input', { id: 'comment-input', placeholder: 'comment (optional)', 'aria-label': 'comment (optional)' });
  /** @param {Record<string, unknown>} answer what answers the request, sent with its id (and the comment typed, if any) */
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
      body.dispatchEvent(new Event('input'));
    }
  };
  if (req.kind === 'input') answerForm(body, req, comment, send);
  else if (req.kind === 'escalation') escalationForm(body, send);
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

/** Why Continue waits, on an escalation without guidance. */
const NEEDS_GUIDANCE = 'type guidance for the agent first: it goes on with what you tell it';

/**
 * An escalation: the agent continues with the guidance typed (its `answer`, which the server
 * needs), or stops (the guidance, if any, its comment).
 * @param {HTMLElement} body
 * @param {(answer: Record<string, unknown>) => void} send
 */
function escalationForm(body, send) {
  const guidance = el('input', { id: 'guidance-input', placeholder: 'guidance for the agent (needed to continue)', 'aria-label': 'guidance for the agent', autocomplete: 'off' });
  const text = () => guidance.value.trim();
  // Continue's click and Enter in the box: once per send (the buttons are disabled while one is on its way).
  const proceed = () => {
    if (!go.disabled && text()) send({ answer: text() });
  };
  const go = el('button', { id: 'approve', type: 'button', text: 'Continue', onclick: proceed });
  const stop = el('button', { id: 'deny', type: 'button', text: 'Stop the agent', onclick: () => send({ approved: false, ...(text() ? { comment: text() } : {}) }) });
  const hint = el('div', { class: 'hint', text: `Continue: ${NEEDS_GUIDANCE}.` });
  // Continue is offered once there is guidance (also after a failed send re-enabled the buttons).
  const sync = () => {
    if (stop.disabled) return;
    go.disabled = !text();
    go.title = go.disabled ? NEEDS_GUIDANCE : 'continue the agent with this guidance';
    hint.hidden = !go.disabled;
  };
  body.addEventListener('input', sync);
  guidance.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') proceed();
  });
  sync();
  body.appendChild(el('div', { class: 'actions' }, [guidance, go, stop]));
  body.appendChild(hint);
}
