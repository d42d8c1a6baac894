import type { BusMessage, BusSubscription } from '../bus/bus.js';
import { MSG_ID_HEADER } from '../bus/jobRunner.js';
import { isNatsOwnSubject, refusal, replyToOf } from './payloads.js';
import { messageOf, unknownAgentMessage } from '../errors.js';
import { publishReport } from './reports.js';
import { errorReplyOf, refusalMsgId, refusedThreadId, type RefusedTrigger } from './triggerRefusal.js';
import { msgIdThreadId } from './triggerJob.js';
import type { SurfaceContext } from './surfaceContext.js';

/**
 * Answers triggers that no queue stores: `<prefix>.trigger.<agent>` for an agent no process
 * knows (and subjects with more tokens). Every process joins one queue group, so one answers.
 *
 * - The trigger's `replyTo` (payload or `Switchyard-Reply-To` header) gets `{ "error", "code":
 *   "not_found", "kind", "threadId"?, "agent", "msgId"? }` naming the agents this process knows, and
 *   the trigger as the workers' refusals do (see `errorReplyOf`): stored first where a stream
 *   captures it (once per trigger msg id, see `refusalMsgId`), else a plain publish.
 * - Then the publisher's own reply subject (a JetStream publish waiting for its ack, or a core
 *   request) gets a JetStream API error `{ "error": { "code": 404, "err_code": 10404, "description": ... } }`,
 *   so `js.publish` rejects with the reason instead of "no responders".
 *
 * Triggers for known agents are left to their work queue (the stream acks them).
 */
export function serveTriggerGuard(ctx: SurfaceContext): { close(): Promise<void> } {
  const { runtime, bus, subjects, logger } = ctx;
  async function onTrigger(msg: BusMessage): Promise<void> {
    const rest = (subjects.tokens(msg.subject) ?? []).slice(1);
    const agent = rest.join('.');
    if (rest.length === 1 && (runtime.agents.has(agent) || runtime.pipelines.has(agent))) return;
    if ((await bus.queueFor(msg.subject)) !== undefined) return;
    const known = [...runtime.agents.keys(), ...runtime.pipelines.keys()];
    const error =
      rest.length === 1
        ? unknownAgentMessage(agent, known)
        : `a trigger subject is ${subjects.trigger('<agent>')}, not ${msg.subject}`;
    logger.warn({ subject: msg.subject }, error);
    const json = msg.json();
    const replyTo = replyToOf(json, msg.headers);
    if (replyTo !== undefined) {
      const msgId = msg.headers[MSG_ID_HEADER];
      const trigger: RefusedTrigger = {
        subject: msg.subject,
        agent: rest.length === 1 ? agent : undefined,
        msgId,
        threadId: refusedThreadId(json, () => (msgId === undefined ? undefined : msgIdThreadId(msgId))),
      };
      const reply = errorReplyOf(refusal(rest.length === 1 ? 'not_found' : 'bad_request', error), trigger);
      try {
        // A trigger sent again under its msg id is refused again: its reply is stored once.
        await publishReport(ctx, replyTo, reply, { msgId: refusalMsgId(trigger) });
      } catch (failure) {
        // No job to bring it back: the publisher still hears why below.
        logger.error({ subject: msg.subject, replyTo, err: messageOf(failure) }, 'the error reply was not stored');
      }
    }
    // Not to one of NATS's own subjects ($JS.API...): that would be an API request with this process's rights.
    if (msg.reply !== undefined && !isNatsOwnSubject(msg.reply)) {
      await ctx.publish(msg.reply, { error: { code: 404, err_code: 10404, description: `switchyard: ${error}` } });
    }
  }

  const subscription: BusSubscription = bus.subscribe(
    subjects.anyTrigger,
    (msg) =>
      onTrigger(msg).catch((error: unknown) => logger.error({ subject: msg.subject, err: messageOf(error) }, 'trigger guard failed')),
    { queue: subjects.triggerGroup },
  );
  return { close: () => subscription.unsubscribe() };
}
