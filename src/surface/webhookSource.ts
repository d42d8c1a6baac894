import { createHash } from 'node:crypto';
import type { BusMessage, BusSubscription } from '../bus/bus.js';
import { messageOf } from '../errors.js';
import type { Runtime, ThreadChange } from '../runtime/runtime.js';
import type { Thread } from '../thread/events.js';
import { deriveState, ENDING_EVENT_TYPES, mayEnd, settlesEnd, statusOf } from '../thread/state.js';
import { ENDED_HEADER } from './subjects.js';
import type { SurfaceContext } from './surfaceContext.js';

/** Where webhooks hear of thread changes: a runtime, or {@link busWebhookSource}. */
export type WebhookSource = Pick<Runtime, 'subscribe'>;

/**
 * Event types a webhook may be sent for: a human request, those after which a thread may have
 * ended, and a call's outcome (recorded after the thread's cancel, it gives its end its final view).
 */
const OUTCOMES: readonly string[] = ['tool_result', 'error'];
const NOTIFYING: readonly string[] = ['human_request', ...ENDING_EVENT_TYPES, ...OUTCOMES];

/**
 * The changes a fleet of API processes sends webhooks for, each event to one process of the fleet.
 * Every process that observes a thread hears of its events; if each sent the webhooks its runtime
 * hears of, a receiver would get one per process. Here the events on `<prefix>.events.>` that may
 * call for a webhook reach one member of a queue group (one group per set of receivers, so
 * processes with other receivers send theirs too); it reads the thread and hands on the change as
 * it stood at that event. Events published while no member of the group is connected are not sent.
 * A call's outcome (`tool_result`, `error`) is read only when its writer marked it as recorded on an
 * ended thread (`ENDED_HEADER`, set by the event fan-out): the one after a cancel is handed on.
 */
export function busWebhookSource(ctx: Pick<SurfaceContext, 'bus' | 'subjects' | 'runtime' | 'logger'>, receivers: readonly string[]): WebhookSource {
  const { bus, subjects, runtime, logger } = ctx;
  const group = `${subjects.prefix}.webhooks.${createHash('sha256').update([...receivers].sort().join('\n')).digest('hex').slice(0, 16)}`;

  async function changeOf(msg: BusMessage): Promise<ThreadChange | undefined> {
    const [, , threadId, type] = subjects.tokens(msg.subject) ?? [];
    if (threadId === undefined || type === undefined || !NOTIFYING.includes(type)) return undefined;
    // A call's outcome matters only recorded after the thread's end (its cancel): the writer says so.
    if (OUTCOMES.includes(type) && msg.headers[ENDED_HEADER] === undefined) return undefined;
    const parsed = msg.json();
    const seq = parsed.success && typeof parsed.data === 'object' && parsed.data !== null ? (parsed.data as { seq?: unknown }).seq : undefined;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new Error(`an event on ${msg.subject} without a valid seq`);
    const view = await runtime.get(threadId);
    if (view === undefined || view.events.length < seq || view.events[seq - 1]!.type !== type) throw new Error(`thread ${threadId} has no ${type} event at seq ${seq}`);
    const event = view.events[seq - 1]!;
    const outcome = OUTCOMES.includes(event.type);
    if (event.type !== 'human_request' && !mayEnd(event) && !outcome) return undefined; // a pause or a resume
    const thread: Thread = { id: view.id, agent: view.agent, events: view.events.slice(0, seq) };
    const status = statusOf(deriveState(thread.events));
    // An outcome marked as recorded on an ended thread: the one after its cancel gives the end its final view.
    if (outcome && !settlesEnd(thread.events, 1, status)) return undefined;
    return { thread, events: [event], status, ingested: true };
  }

  return {
    subscribe(listener) {
      const subscription: BusSubscription = bus.subscribe(
        subjects.anyEvent,
        (msg) =>
          void changeOf(msg)
            .then((change) => change && listener(change))
            .catch((error: unknown) => logger.warn({ subject: msg.subject, err: messageOf(error) }, 'no webhook for this event')),
        { queue: group },
      );
      return () => void subscription.unsubscribe();
    },
  };
}
