import type { BusSubscription } from '../bus/bus.js';
import { ENDED_HEADER, PROCESS_HEADER } from './subjects.js';
import { TERMINAL_STATUSES } from '../thread/state.js';
import { messageOf } from '../errors.js';
import { publishHumanNotice } from './reports.js';
import type { SurfaceContext } from './surfaceContext.js';

/** The event side of the NATS surface. */
export interface EventFanout {
  close(): Promise<void>;
}

/**
 * Publishes every event this process appends on `<prefix>.events.<agent>.<id>.<type>` (the event
 * JSON, header `Switchyard-Process`), and every human request also on `<prefix>.human.<agent>.<id>`.
 * With `observe`, follows the other processes' events: each one makes the runtime read the thread
 * (`runtime.ingest`, at most one read in flight per thread), so `watch`, SSE and `settled` in this
 * process see threads that workers elsewhere move; when the bus gets its server back, the threads
 * followed here are read again, since the events published meanwhile were lost to it.
 */
export function startEventFanout(ctx: SurfaceContext, options: { observe: boolean }): EventFanout {
  const { runtime, bus, subjects, processId, logger } = ctx;
  // Frozen: the same headers on every event, encoded once by the NATS bus; a change that left its
  // thread ended says how (ENDED_HEADER).
  const running = Object.freeze({ [PROCESS_HEADER]: processId });
  const ended = new Map(TERMINAL_STATUSES.map((status) => [status, Object.freeze({ ...running, [ENDED_HEADER]: status })]));

  const unsubscribe = runtime.subscribe((change) => {
    if (change.ingested) return; // another process wrote (and published) these
    const { id, agent } = change.thread;
    const headers = ended.get(change.status) ?? running;
    for (const event of change.events) {
      void ctx.publish(subjects.events(agent, id, event.type), event, { headers });
      if (event.type === 'human_request') void publishHumanNotice(ctx, agent, id, { ...event.data, at: event.at });
    }
  });

  // Per thread: a read in flight, and whether more events arrived meanwhile.
  const reading = new Map<string, { again: boolean }>();
  function ingest(threadId: string): void {
    const inFlight = reading.get(threadId);
    if (inFlight) {
      inFlight.again = true;
      return;
    }
    const state = { again: false };
    reading.set(threadId, state);
    void (async () => {
      try {
        do {
          state.again = false;
          await runtime.ingest(threadId);
        } while (state.again);
      } catch (error) {
        logger.warn({ threadId, err: messageOf(error) }, 'could not read a thread another process changed');
      } finally {
        reading.delete(threadId);
      }
    })();
  }

  let observer: BusSubscription | undefined;
  let stopCatchingUp = (): void => undefined;
  if (options.observe) {
    observer = bus.subscribe(subjects.anyEvent, (msg) => {
      if (msg.headers[PROCESS_HEADER] === processId) return;
      const [, , threadId] = subjects.tokens(msg.subject) ?? [];
      if (threadId) ingest(threadId);
    });
    // Events published while the bus was away are lost to it: read the followed threads again.
    stopCatchingUp = bus.onReconnect(() => {
      for (const threadId of runtime.watchedThreads()) ingest(threadId);
    });
  }

  return {
    async close() {
      unsubscribe();
      stopCatchingUp();
      await observer?.unsubscribe();
    },
  };
}

