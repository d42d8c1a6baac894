import { shownArgs } from '../context/sealedArgs.js';
import type { Json, NewEvent } from '../thread/events.js';
import { requestIdFor } from './ids.js';

/** The call a human is asked to approve before it runs. */
export interface CallToApprove {
  readonly callId: string;
  readonly tool: string;
  readonly args: Record<string, Json>;
}

/** The `human_request` that asks approval for `call`, written at `seq` of the thread (`threadKey`: its `incarnationKeyOf`). */
export function approvalRequest(threadKey: string, seq: number, call: CallToApprove): NewEvent {
  return {
    type: 'human_request',
    data: {
      requestId: requestIdFor(threadKey, seq),
      kind: 'approval',
      question: `Approve ${call.tool}(${shownArgs(call.args)})?`,
      urgency: 'medium',
      format: 'yes_no',
      callId: call.callId,
      tool: call.tool,
      args: call.args,
    },
  };
}
