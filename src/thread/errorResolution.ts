import type { ErrorKind, EventOf, ThreadEvent } from './events.js';

/**
 * When an error stops mattering to the model: the one rule by which the context hides errors
 * (renderContext). An error is about something, its subject; it is resolved, and hidden, once that
 * same subject has since succeeded, and only then. A success of anything else (another tool's
 * result, a prefetch, a human's answer) resolves nothing: a tool that failed "card declined (do
 * not retry)" stays failed in the model's eyes while other tools work.
 *
 * | error kind | its subject | resolved by a later |
 * | --- | --- | --- |
 * | `tool_error`, `tool_timeout` (naming tool T) | tool T | result of T: its `tool_result`, or an intent handler's outcome for T |
 * | `unknown_intent` naming a tool T (a recorded call of a tool this version lacks) | tool T | result of T (a version that has T again) |
 * | `step_error` naming a call (an intent handler T that threw) | tool T | result of T |
 * | `invalid_args` (naming intent T) | the arguments for T | decision for T accepted (its arguments were valid) |
 * | `prefetch_error`, `step_error` naming a step S and no call | step S | result of S: its prefetch recorded ok, or its before-decision, judge or compaction output |
 * | `invalid_json`, `model_http`, `model_timeout`, `unknown_intent` naming no tool, `step_error` naming nothing (the prompt could not be rendered) | the model's answer | decision accepted |
 *
 * An error whose kind needs a name (a tool's, a step's) and has none is never resolved. Whether an
 * error counts toward `maxConsecutiveErrors` is another matter (see ThreadState.consecutiveErrors).
 */
export type ErrorSubject = string;

/** The model's answer (or its call) as a subject: any decision accepted later resolves it. */
const ANSWER: ErrorSubject = 'answer';
const ofTool = (name: string): ErrorSubject => `tool:${name}`;
const ofArgs = (name: string): ErrorSubject => `args:${name}`;
const ofStep = (name: string): ErrorSubject => `step:${name}`;

type ErrorData = EventOf<'error'>['data'];
const named = (subject: (name: string) => ErrorSubject) => (data: ErrorData) => (data.tool === undefined ? null : subject(data.tool));

/** Every kind's subject (see {@link ErrorSubject}): a kind added to the schema must be decided here. */
const SUBJECTS: Readonly<Record<ErrorKind, (data: ErrorData) => ErrorSubject | null>> = {
  tool_error: named(ofTool),
  tool_timeout: named(ofTool),
  unknown_intent: (data) => (data.tool === undefined ? ANSWER : ofTool(data.tool)),
  invalid_args: named(ofArgs),
  prefetch_error: named(ofStep),
  step_error: (data) => (data.tool === undefined ? ANSWER : data.callId === undefined ? ofStep(data.tool) : ofTool(data.tool)),
  invalid_json: () => ANSWER,
  model_http: () => ANSWER,
  model_timeout: () => ANSWER,
};

/** What an error is about: the subject whose later success resolves it, or null when nothing does. */
export function errorSubject(data: ErrorData): ErrorSubject | null {
  return SUBJECTS[data.kind](data);
}

/** The subjects `event` records a success of (see {@link ErrorSubject}); empty for most events. */
export function successSubjects(event: ThreadEvent): readonly ErrorSubject[] {
  switch (event.type) {
    case 'decision':
      return [ANSWER, ofArgs(event.data.intent)];
    case 'tool_result':
      return [ofTool(event.data.tool)];
    case 'prefetch':
      return event.data.ok ? [ofStep(event.data.name)] : [];
    case 'custom':
      return [event.data.phase === 'intent' ? ofTool(event.data.step) : ofStep(event.data.step)];
    default:
      return [];
  }
}
