import { InvalidInputError } from '../errors.js';
import type { HumanRequest } from '../thread/events.js';
import { humanResponseInputSchema, validateResponse } from '../thread/humanResponse.js';
import { UsageError } from './cliContext.js';
import type { RespondBody } from './client.js';
import { isNotRunAgainRequest, replyHint, shellQuote, type CommandHint } from './format.js';

/** The flags of `switchyard respond` that make the response. */
export interface RespondFlags {
  approve?: boolean;
  deny?: boolean;
  answer?: string;
  comment?: string;
}

/** The flag that sets each field of the body, to name it where the body's schema names the field. */
const FLAG_OF: Readonly<Record<string, string>> = {
  requestId: '--request',
  approved: '--approve or --deny',
  answer: '--answer',
  comment: '--comment',
  by: '--by',
};

/**
 * The body `respond` sends for these flags, checked against the HTTP API's own schema so a value
 * no server takes (an answer too long) is a {@link UsageError} naming the flag, not the field.
 */
export function respondBody(flags: RespondFlags, requestId: string, by: string | undefined): RespondBody {
  const body: RespondBody = {
    requestId,
    ...(flags.approve ? { approved: true } : flags.deny ? { approved: false } : {}),
    ...(flags.answer === undefined ? {} : { answer: flags.answer }),
    ...(flags.comment === undefined ? {} : { comment: flags.comment }),
    ...(by ? { by } : {}),
  };
  const parsed = humanResponseInputSchema.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${FLAG_OF[String(issue.path[0])] ?? issue.path.join('.')}: ${issue.message}`);
    throw new UsageError(issues.join('; '));
  }
  return body;
}

/**
 * Checks the response against the thread's pending request with the runtime's own rules and, when
 * they refuse it for not fitting the request, throws an {@link InvalidInputError} that says what the
 * thread waits for and how to answer it in flags (the server's message names the body's fields).
 * A response to another request than the pending one is left to the server (409).
 */
export function checkFitsRequest(threadId: string, request: HumanRequest, body: RespondBody, flags: RespondFlags, hint: CommandHint): void {
  const checked = validateResponse(request, body);
  if (checked.success || checked.code !== 'invalid_response') return;
  // One of them: `respond` refuses --answer beside --approve or --deny.
  const given = flags.answer !== undefined ? `--answer ${shellQuote(flags.answer)}` : flags.approve ? '--approve' : '--deny';
  throw new InvalidInputError(`thread ${threadId} ${waitsFor(request)}; ${given} does not answer it\n  reply: ${replyHint(threadId, request, hint)}`);
}

function waitsFor(request: HumanRequest): string {
  switch (request.kind) {
    case 'approval':
      return `waits for an approval of ${request.tool ?? 'a tool call'}`;
    case 'interrupted':
      if (isNotRunAgainRequest(request)) return `waits to know whether an interrupted ${request.tool ?? 'tool'} call took effect (it is not run again: the question says why)`;
      return `waits to know whether to run an interrupted ${request.tool ?? 'tool'} call again`;
    case 'escalation':
      return 'waits for guidance (it escalated)';
    case 'input':
      if (request.format === 'yes_no') return 'asks a yes or no question';
      if (request.format === 'multiple_choice' && request.choices?.length) return `asks for one of: ${request.choices.join(', ')}`;
      return 'asks a question';
  }
}
