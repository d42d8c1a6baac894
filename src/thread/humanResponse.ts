import { z } from 'zod';
import type { HumanRequest, HumanResponse, ThreadEvent } from './events.js';

/**
 * The rule that a response gives `approved` or an `answer`, never both, in the words of the fields
 * as a surface spells them (the CLI: `--answer`, `--approve or --deny`, `--comment`). No request
 * takes both: an approval's note is a comment, a yes/no question takes either alone, and `approved`
 * beside an answer misleads the model (a denial with an answer reads as a refused question).
 */
export function approvedOrAnswerRule(names: RuleNames): string {
  return `${names.answer} ${ruleAfterAnswer(names)}`;
}

/** How a surface spells the fields of a response. */
interface RuleNames {
  approved: string;
  answer: string;
  comment: string;
}

/** The fields as the HTTP body and the NATS payload spell them. */
const FIELD_NAMES: RuleNames = { approved: '"approved"', answer: '"answer"', comment: '"comment"' };

/** {@link approvedOrAnswerRule} after the answer's name: an issue on `answer` names the field before it. */
function ruleAfterAnswer(names: RuleNames): string {
  return `cannot be combined with ${names.approved}: answer a question or an escalation with ${names.answer}, an approval with ${names.approved} (and ${names.comment})`;
}

/** A human's response as it arrives from outside (HTTP body, NATS payload, CLI flags). */
export const humanResponseInputSchema = z
  .object({
    requestId: z.string().min(1).max(200),
    approved: z.boolean().optional(),
    answer: z.string().max(20_000).optional(),
    comment: z.string().max(20_000).optional(),
    by: z.string().max(200).optional(),
  })
  .strict()
  // Shown after its field (`answer: cannot be combined ...`), so the message does not start with it.
  .refine((response) => response.approved === undefined || response.answer === undefined, { message: ruleAfterAnswer(FIELD_NAMES), path: ['answer'] });

/** Why a response was refused. */
export type ResponseRefusal = 'no_pending_request' | 'stale_request' | 'invalid_response';

/**
 * Checks a response against the open request: it must name the open request's id (so a stale or
 * forged answer cannot resume a thread) and fit the request's kind and format. Returns the response
 * to record (a yes/no answer given as `approved` is normalized to `answer`). A refused response to
 * a request the thread's `events` show answered already (a client repeating an answer whose reply
 * it lost) says so, and how and when it was answered, instead of calling it not open.
 */
export function validateResponse(
  request: HumanRequest | null,
  response: HumanResponse,
  events: readonly ThreadEvent[] = [],
): { success: true; data: HumanResponse } | { success: false; code: ResponseRefusal; error: string } {
  if (request === null || request.requestId !== response.requestId) {
    const answered = answeredNote(events, response.requestId);
    if (request === null) return { success: false, code: 'no_pending_request', error: answered ?? 'the thread is not waiting for a human' };
    return { success: false, code: 'stale_request', error: answered ?? `request ${response.requestId} is not the open request of this thread` };
  }
  const invalid = (error: string) => ({ success: false as const, code: 'invalid_response' as const, error });
  switch (request.kind) {
    case 'approval':
    case 'interrupted':
      if (typeof response.approved !== 'boolean') return invalid(`${withArticle(request.kind)} request needs "approved": true or false`);
      return { success: true, data: response };
    case 'escalation':
      if (response.approved === false) return { success: true, data: response };
      if (!response.answer?.trim()) return invalid('an escalation needs an "answer" with guidance (or "approved": false to stop the agent)');
      return { success: true, data: response };
    case 'input': {
      if (request.format === 'yes_no') {
        const answer = response.answer?.trim().toLowerCase() ?? (response.approved === undefined ? undefined : response.approved ? 'yes' : 'no');
        if (answer !== 'yes' && answer !== 'no') return invalid('this request needs a yes or no answer');
        if (response.approved !== undefined && response.approved !== (answer === 'yes')) {
          return invalid(`"approved": ${response.approved} contradicts the answer "${answer}"`);
        }
        return { success: true, data: { ...response, answer } };
      }
      if (!response.answer?.trim()) return invalid('this request needs an "answer"');
      if (request.format !== 'multiple_choice' || !request.choices) return { success: true, data: response };
      const choice = matchChoice(request.choices, response.answer);
      if (choice.length === 1) return { success: true, data: { ...response, answer: choice[0]! } };
      if (choice.length > 1) {
        return invalid(`the answer "${response.answer.trim()}" matches more than one choice but for case: give one as written: ${choice.join(', ')}`);
      }
      return invalid(`the answer must be one of: ${request.choices.join(', ')}`);
    }
  }
}

/**
 * The choices `answer` names, as written: the one equal to it once both are trimmed (a human's
 * ' full' means 'full', as a yes/no answer's ' YES' means 'yes'), else those equal to it but for
 * case: one is the answer, several (choices differing only in case) are ambiguous, none refuse it.
 */
function matchChoice(choices: readonly string[], answer: string): string[] {
  const trimmed = answer.trim();
  const exact = choices.find((choice) => choice.trim() === trimmed);
  if (exact !== undefined) return [exact];
  const folded = trimmed.toLowerCase();
  return choices.filter((choice) => choice.trim().toLowerCase() === folded);
}

/** How a response answered its request: `approved`, `denied`, or `answered` (a text answer). */
export function answerKind(response: Pick<HumanResponse, 'approved'>): 'approved' | 'denied' | 'answered' {
  return response.approved === true ? 'approved' : response.approved === false ? 'denied' : 'answered';
}

/**
 * `request req_1 was already answered (approved by ana at 2026-…Z)` when `events` hold an answer
 * to `requestId`, else undefined.
 */
export function answeredNote(events: readonly ThreadEvent[], requestId: string): string | undefined {
  const answer = events.findLast((event) => event.type === 'human_response' && event.data.requestId === requestId);
  if (answer?.type !== 'human_response') return undefined;
  const { by } = answer.data;
  return `request ${requestId} was already answered (${answerKind(answer.data)}${by ? ` by ${by}` : ''} at ${answer.at})`;
}

/** `an approval`, `a deploy`: a word with its indefinite article (by its first letter). */
function withArticle(word: string): string {
  return `${/^[aeiou]/i.test(word) ? 'an' : 'a'} ${word}`;
}
