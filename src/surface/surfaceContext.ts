import { messageOf } from '../errors.js';
import { type Bus, type BusPayload, type PublishOptions, isBusError } from '../bus/bus.js';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime/runtime.js';
import type { AgentQueues } from './agentQueues.js';
import type { CallbackSender } from './callbacks.js';
import type { BusSubjects } from './subjects.js';

/** What the parts of the NATS surface share (built once by {@link attachBus}). */
export interface SurfaceContext {
  readonly runtime: Runtime;
  readonly queues: AgentQueues;
  readonly bus: Bus;
  readonly subjects: BusSubjects;
  readonly processId: string;
  readonly logger: Logger;
  readonly maxPayloadBytes: number;
  /** Calls the callback URLs of HTTP launches at each rest of a job. */
  readonly callbacks: CallbackSender;
  /** Publishes without throwing: a failure is logged (a closed bus only at debug level). */
  publish(subject: string, payload: BusPayload, options?: PublishOptions): Promise<void>;
}

/** Builds the shared `publish` of a {@link SurfaceContext}. */
export function safePublisher(bus: Bus, logger: Logger): SurfaceContext['publish'] {
  return async (subject, payload, options) => {
    try {
      await bus.publish(subject, payload, options);
    } catch (error) {
      const log = { subject, err: messageOf(error) };
      if (isBusError(error, 'closed')) logger.debug(log, 'not published: the bus is closed');
      else logger.warn(log, 'publish failed');
    }
  };
}
