import { z } from 'zod';
import { clipText } from '../errors.js';
import type { ThreadEvent } from '../thread/events.js';
import { cancelOf, type ThreadState } from '../thread/state.js';
import type { FailureSummary } from './threadStore.js';

/**
 * The kinds of a failure summary, in the order stores encode them by index (the file store's
 * index snapshot and failure table): append a new kind, never reorder.
 */
export const FAILURE_KINDS = ['failed', 'stopped', 'cancelled'] as const satisfies readonly FailureSummary['kind'][];

/** The most characters of why a thread ended, and of who cancelled it, a summary keeps. */
export const MAX_FAILURE_TEXT = 200;

/**
 * Why a thread (`state`, folded from `events`) ended badly, or `undefined` when it did not end so
 * or its cancel said neither why nor who. Reads only the end of the log for a failed thread (the
 * event that ended it is its last) and the cancel for a cancelled one.
 */
export function failureSummary(events: readonly ThreadEvent[], state: ThreadState): FailureSummary | undefined {
  if (state.terminal === 'failed') {
    const message = clipText(state.failure ?? '', MAX_FAILURE_TEXT);
    return Object.freeze({ kind: failedKind(events), message });
  }
  if (state.terminal !== 'cancelled') return undefined;
  const { reason, by } = cancelOf(events);
  if (reason === undefined && by === undefined) return undefined;
  return Object.freeze({
    kind: 'cancelled',
    ...(reason === undefined ? {} : { message: clipText(reason, MAX_FAILURE_TEXT) }),
    ...(by === undefined ? {} : { by: clipText(by, MAX_FAILURE_TEXT) }),
  });
}

/**
 * `stopped` when a human's stop of an escalation ended the thread, else `failed`: of the two
 * events that end a thread failed, the later is the one (nothing is appended after an end).
 */
function failedKind(events: readonly ThreadEvent[]): 'failed' | 'stopped' {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!;
    if (event.type === 'failed') return 'failed';
    if (event.type === 'human_response' && event.data.approved === false) return 'stopped';
  }
  return 'failed';
}

const storedFailureSchema = z.object({
  kind: z.enum(FAILURE_KINDS),
  message: z.string().optional(),
  by: z.string().optional(),
});

/**
 * A failure read back from storage (a KV summary) or from events not validated (the file store's
 * listing), or `undefined` when `value` is none a writer writes (it is then left out: the row shows
 * none).
 */
export function parseFailureSummary(value: unknown): FailureSummary | undefined {
  const parsed = storedFailureSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const { kind, message, by } = parsed.data;
  return Object.freeze({ kind, ...(message === undefined ? {} : { message }), ...(by === undefined ? {} : { by }) });
}
