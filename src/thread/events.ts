import { z } from 'zod';

/** JSON value: what every payload in a thread must be, so threads serialize losslessly. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/**
 * Type guard for JSON values: null, booleans, finite numbers, strings, arrays and plain objects of
 * JSON values (no undefined, functions, class instances or cycles; at most 256 levels deep).
 */
export function isJson(value: unknown, depth = 0): value is Json {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (depth >= 256) return false;
      if (Array.isArray(value)) {
        for (const item of value) if (!isJson(item, depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) if (!isJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

/**
 * Whether two JSON values are the same value as JSON compares them: arrays item by item, objects by
 * their keys in any order (a client may serialize them in another order than the thread recorded),
 * numbers by value (`0` and `-0` are both the text `0`).
 */
export function sameJson(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameJson(item, b[i]!));
  }
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && sameJson(a[key]!, b[key]!));
}

/**
 * Whether a thread (its events) was launched with another input than `input`, compared as JSON
 * values ({@link sameJson}): what a relaunch of its id is refused for (`thread_exists_other_input`).
 */
export function launchedWithOtherInput(events: readonly ThreadEvent[], input: Json): boolean {
  const first = events[0];
  return first?.type === 'input' && !sameJson(first.data.input, input);
}

const NOT_JSON = 'must be a JSON value (finite numbers, strings, booleans, null, arrays and plain objects, at most 256 levels deep)';

// A hand-written guard: zod's recursive union was the most expensive part of validating events.
export const jsonSchema: z.ZodType<Json> = z.custom<Json>((value) => isJson(value), { message: NOT_JSON });

/**
 * A thread's input as a launch from outside names it (an HTTP body, a NATS trigger): required, and
 * any JSON value. One schema, so every surface words a missing or bad input alike.
 */
export const launchInputSchema: z.ZodType<Json> = z.custom<Json>((value) => isJson(value), {
  // Shown after the field (`input: is required ...`), so it does not name it again.
  error: (issue) => (issue.input === undefined ? 'is required (any JSON value)' : NOT_JSON),
});

/** Names of the built-in human-contact intents. */
export const REQUEST_HUMAN_INPUT = 'request_human_input';
export const DONE_FOR_NOW = 'done_for_now';
export const BUILTIN_INTENTS: readonly string[] = [REQUEST_HUMAN_INPUT, DONE_FOR_NOW];

export const tokenUsageSchema = z.object({
  prompt: z.number().int().nonnegative(),
  completion: z.number().int().nonnegative(),
});

/** Where a thread's trigger came from; replies go back there. */
export const sourceSchema = z.object({
  kind: z.enum(['typescript', 'http', 'nats', 'cli', 'webhook', 'pipeline']),
  /** A subject or URL the final output is sent to. */
  replyTo: z.string().optional(),
  /**
   * The trigger's id (NATS msg id, HTTP idempotency key); for a pipeline's child, its pipeline's
   * incarnation (`<parentId>@<incarnation>`).
   */
  triggerId: z.string().optional(),
  /** The parent thread when launched by a pipeline. */
  parentId: z.string().optional(),
});

export const inputDataSchema = z.object({ input: jsonSchema, source: sourceSchema.optional() });
export const prefetchDataSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  result: jsonSchema.optional(),
  error: z.string().optional(),
});
export const decisionDataSchema = z.object({
  callId: z.string(),
  step: z.number().int().positive(),
  intent: z.string(),
  args: z.record(z.string(), jsonSchema),
  model: z.string(),
  promptHash: z.string(),
  tokens: tokenUsageSchema,
  latencyMs: z.number().nonnegative(),
});
export const toolCallDataSchema = z.object({
  callId: z.string(),
  tool: z.string(),
  args: z.record(z.string(), jsonSchema),
  idempotencyKey: z.string(),
  attempt: z.number().int().positive(),
  /** A durable sleep (a pipeline's sleep step): the thread sleeps until this epoch ms, or until the call's result. */
  until: z.number().int().nonnegative().optional(),
});
export const toolResultDataSchema = z.object({
  callId: z.string(),
  tool: z.string(),
  result: jsonSchema,
  durationMs: z.number().nonnegative(),
  /**
   * A pipeline step's result as its run returned it (or its child ended with), before its `output`
   * schema: parsed with it again for the steps after it. Absent on results an earlier version
   * recorded after the schema, which the steps get as recorded.
   */
  raw: z.literal(true).optional(),
});

export const errorKindSchema = z.enum([
  'model_http',
  'model_timeout',
  'invalid_json',
  'unknown_intent',
  'invalid_args',
  'tool_error',
  'tool_timeout',
  'prefetch_error',
  'step_error',
]);
export type ErrorKind = z.infer<typeof errorKindSchema>;

export const errorDataSchema = z.object({
  kind: errorKindSchema,
  message: z.string(),
  callId: z.string().optional(),
  tool: z.string().optional(),
  /** Consecutive errors including this one. */
  attempt: z.number().int().positive(),
  /** When the agent may decide again (ISO time); absent when this error escalates. */
  retryAt: z.string().optional(),
  tokens: tokenUsageSchema.optional(),
  /**
   * The model endpoint rate limited the request (a 429, or a 503 with `Retry-After`): it counts
   * toward the agent's `maxConsecutiveRateLimits`, not its `maxConsecutiveErrors`.
   */
  rateLimited: z.boolean().optional(),
  /**
   * The arguments the model sent with a decision that was refused (`invalid_args`,
   * `unknown_intent`), the agent's secrets redacted: as sent, or, when their JSON is longer than
   * 1000 characters, the start of that JSON followed by `…` (a string). Absent on other errors and
   * on errors recorded before it existed.
   */
  args: jsonSchema.optional(),
});

export const humanRequestKindSchema = z.enum(['input', 'approval', 'escalation', 'interrupted']);
export type HumanRequestKind = z.infer<typeof humanRequestKindSchema>;
export const urgencySchema = z.enum(['low', 'medium', 'high']);
export const responseFormatSchema = z.enum(['free_text', 'yes_no', 'multiple_choice']);

export const humanRequestDataSchema = z.object({
  requestId: z.string(),
  kind: humanRequestKindSchema,
  question: z.string(),
  context: z.string().optional(),
  urgency: urgencySchema,
  format: responseFormatSchema,
  choices: z.array(z.string()).optional(),
  /** For approval and interrupted requests: the tool call in question. */
  callId: z.string().optional(),
  tool: z.string().optional(),
  args: z.record(z.string(), jsonSchema).optional(),
  /**
   * Interrupted requests: `false` when approving does not run the call again (its tool is gone from
   * the agent's version): it says the call did not take effect, and the call is not run again by
   * any version that continues the thread (a rollback that brings the tool back included). Absent:
   * approving runs it again.
   */
  rerun: z.boolean().optional(),
});
export const humanResponseDataSchema = z.object({
  requestId: z.string(),
  /**
   * Approval requests: approve or deny. Interrupted calls: true runs the tool again (when the request
   * says `rerun: false`: true says it did not take effect, and nothing runs it).
   */
  approved: z.boolean().optional(),
  /** Free text, a yes/no or one of the choices. */
  answer: z.string().optional(),
  comment: z.string().optional(),
  by: z.string().optional(),
});
export const controlDataSchema = z.object({
  action: z.enum(['pause', 'resume', 'cancel']),
  reason: z.string().optional(),
  by: z.string().optional(),
});
export const finalDataSchema = z.object({ output: jsonSchema });
/**
 * Why an agent escalated to a human: `maxConsecutiveErrors` errors in a row,
 * `maxConsecutiveRateLimits` rate limits in a row, `maxSteps` reached, or an error retrying will
 * not fix (a model endpoint's 4xx; or, written by the job queues' surface, not the agent, a job
 * delivered `maxDeliver` times that no worker finished: a poison job). A stored log is read by
 * every version of a deployment: a new reason would make older processes refuse its thread.
 */
export const escalationReasonSchema = z.enum(['max_consecutive_errors', 'max_consecutive_rate_limits', 'max_steps', 'non_retryable_error']);
export type EscalationReason = z.infer<typeof escalationReasonSchema>;
export const escalationDataSchema = z.object({
  reason: escalationReasonSchema,
  message: z.string(),
  requestId: z.string(),
});
export const failedDataSchema = z.object({ reason: z.string() });

/** Where in an agent's flow a step of the agent's author ran. */
export const customPhaseSchema = z.enum(['before_decision', 'after_decision', 'intent', 'compact']);
export type CustomPhase = z.infer<typeof customPhaseSchema>;

/**
 * The result of a step the agent's author added (factor 8): a check before each decision, a judge
 * after one, an intent handled by user code, or a compaction of the context. `output` was
 * validated by the step's own schema before it was recorded.
 */
export const customDataSchema = z.object({
  step: z.string().min(1),
  phase: customPhaseSchema,
  /** The call a judge or an intent handler was about. */
  callId: z.string().optional(),
  /** A judge's verdict on the call: run it, drop it with feedback for the model, or ask a human. */
  verdict: z.enum(['accept', 'reject', 'ask']).optional(),
  /** What the model is told when a judge rejects, or what a human is asked. */
  feedback: z.string().optional(),
  output: jsonSchema.optional(),
  /** An intent handler's durable wait: the agent sleeps until this epoch ms. */
  until: z.number().int().nonnegative().optional(),
  /** A compaction: the summary replaces the events up to this seq in the context. */
  upTo: z.number().int().nonnegative().optional(),
});
export type CustomData = z.infer<typeof customDataSchema>;

const eventBase = { seq: z.number().int().positive(), at: z.string() };

/** Every event a thread can hold, discriminated by `type`. */
export const eventSchema = z.discriminatedUnion('type', [
  z.object({ ...eventBase, type: z.literal('input'), data: inputDataSchema }),
  z.object({ ...eventBase, type: z.literal('prefetch'), data: prefetchDataSchema }),
  z.object({ ...eventBase, type: z.literal('decision'), data: decisionDataSchema }),
  z.object({ ...eventBase, type: z.literal('tool_call'), data: toolCallDataSchema }),
  z.object({ ...eventBase, type: z.literal('tool_result'), data: toolResultDataSchema }),
  z.object({ ...eventBase, type: z.literal('error'), data: errorDataSchema }),
  z.object({ ...eventBase, type: z.literal('human_request'), data: humanRequestDataSchema }),
  z.object({ ...eventBase, type: z.literal('human_response'), data: humanResponseDataSchema }),
  z.object({ ...eventBase, type: z.literal('control'), data: controlDataSchema }),
  z.object({ ...eventBase, type: z.literal('final'), data: finalDataSchema }),
  z.object({ ...eventBase, type: z.literal('escalation'), data: escalationDataSchema }),
  z.object({ ...eventBase, type: z.literal('failed'), data: failedDataSchema }),
  z.object({ ...eventBase, type: z.literal('custom'), data: customDataSchema }),
]);

/** One entry of a thread's append-only log. */
export type ThreadEvent = z.infer<typeof eventSchema>;
export type EventType = ThreadEvent['type'];
/** The event of a given type. */
export type EventOf<T extends EventType> = Extract<ThreadEvent, { type: T }>;
/** An event before the log assigns its `seq` and `at`. */
export type NewEvent = { [T in EventType]: { type: T; data: EventOf<T>['data'] } }[EventType];
export type HumanRequest = EventOf<'human_request'>['data'];
export type HumanResponse = EventOf<'human_response'>['data'];
export type TokenUsage = z.infer<typeof tokenUsageSchema>;
export type Source = z.infer<typeof sourceSchema>;

export const EVENT_TYPES: readonly EventType[] = [
  'input',
  'prefetch',
  'decision',
  'tool_call',
  'tool_result',
  'error',
  'human_request',
  'human_response',
  'control',
  'final',
  'escalation',
  'failed',
  'custom',
];

/** A thread: an id, the agent that runs it, and its events. Nothing else is state. */
export interface Thread {
  readonly id: string;
  readonly agent: string;
  readonly events: readonly ThreadEvent[];
}

export const threadSchema = z.object({
  id: z.string().min(1),
  agent: z.string().min(1),
  events: z.array(eventSchema),
});

/** The version of a thread: the seq of its last event (0 when empty). */
export function versionOf(thread: Thread): number {
  return thread.events.length === 0 ? 0 : thread.events[thread.events.length - 1]!.seq;
}
