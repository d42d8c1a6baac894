import type { BusPayload } from '../bus/bus.js';
import { MSG_ID_HEADER } from '../bus/jobRunner.js';
import type { ThreadView } from '../runtime/runtime.js';
import type { AskedRequest } from '../thread/state.js';
import { incarnateId } from '../thread/incarnation.js';
import type { HumanRequestNotice } from './payloads.js';
import { PROCESS_HEADER } from './subjects.js';
import type { SurfaceContext } from './surfaceContext.js';

/**
 * Publishes what a client waits on (a result, an error reply, a human request) so that it
 * outlives a server restart: where a stream captures the subject it is stored there, confirmed,
 * and a repeat of `msgId` is stored once; elsewhere it is a plain publish carrying `msgId` as its
 * `Nats-Msg-Id` header (or nothing, when not `plain`: already published). Rejects when the stream did not store it, so that the job is not
 * acknowledged and reports again.
 */
export async function publishReport(
  ctx: SurfaceContext,
  subject: string,
  payload: BusPayload,
  report: { msgId: string; headers?: Record<string, string>; plain?: boolean },
): Promise<void> {
  const { msgId, headers, plain = true } = report;
  if (await ctx.bus.publishStored(subject, payload, { msgId, ...(headers ? { headers } : {}) })) return;
  // With its msg id too: a receiver drops repeats by it, and a stream this process does not know of yet stores it once.
  if (plain) await ctx.publish(subject, payload, { headers: { ...headers, [MSG_ID_HEADER]: msgId } });
}

/**
 * The msg id of a thread's report at its rest (the same rest reported again is the same report):
 * `rest.<threadId>@<incarnation>.<version>`, so a thread deleted and launched again under its id
 * is not taken for its earlier self.
 */
export function restMsgId(view: Pick<ThreadView, 'id' | 'version' | 'createdAt'>): string {
  return `rest.${incarnateId(view.id, view.createdAt)}.${view.version}`;
}

/** A human request as bridges hear it on `<prefix>.human.<agent>.<id>`. */
function humanNotice(ctx: SurfaceContext, agent: string, threadId: string, request: AskedRequest) {
  const notice: HumanRequestNotice = { ...request, threadId, agent };
  const msgId = `human.${threadId}.${request.requestId}`;
  return { subject: ctx.subjects.human(agent, threadId), notice, msgId, headers: { [PROCESS_HEADER]: ctx.processId } };
}

/**
 * Publishes a thread's human request on `<prefix>.human.<agent>.<id>` (for Slack or email
 * bridges), as the fan-out does when the request is stored. It carries its msg id, so that a
 * stream capturing it keeps one copy of it and of {@link reportHumanNotice}'s.
 */
export function publishHumanNotice(ctx: SurfaceContext, agent: string, threadId: string, request: AskedRequest): Promise<void> {
  const { subject, notice, msgId, headers } = humanNotice(ctx, agent, threadId, request);
  return ctx.publish(subject, notice, { headers: { ...headers, [MSG_ID_HEADER]: msgId } });
}

/**
 * A worker's report of a thread waiting for a human, before its job is acknowledged: confirmed by
 * a stream that captures it; published again (`plain`) when the job came back after a crash, since
 * the process that stored the request may have died before it published it. A bridge hears every
 * request at least once, and drops repeats by `requestId`.
 */
export function reportHumanNotice(ctx: SurfaceContext, agent: string, threadId: string, request: AskedRequest, plain: boolean): Promise<void> {
  const { subject, notice, msgId, headers } = humanNotice(ctx, agent, threadId, request);
  return publishReport(ctx, subject, notice, { msgId, headers, plain });
}
