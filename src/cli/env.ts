import { ConfigError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { createDemoModel } from '../model/demoModel.js';
import type { Model } from '../model/model.js';
import { createOpenAIModel } from '../model/openaiModel.js';
import type { WebhookTarget } from '../server/webhooks.js';
import { deliveryTargetOf } from '../store/deliveryTarget.js';

// What `serve` and `worker` read from the environment, in one place.

/** Whether a real model is configured through the environment. */
export function hasModelConfig(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.SWITCHYARD_MODEL_API_KEY || env.OPENAI_API_KEY || env.SWITCHYARD_MODEL_BASE_URL);
}

/**
 * The model of a process: the project's own, else an OpenAI-compatible one when the environment
 * configures it, else the scripted demo model. `configured` says whether a real model runs.
 */
export function modelFromEnv(env: NodeJS.ProcessEnv, own?: Model): { model: Model; configured: boolean; own: boolean } {
  if (own !== undefined) return { model: own, configured: true, own: true };
  const configured = hasModelConfig(env);
  return { model: configured ? createOpenAIModel() : createDemoModel(), configured, own: false };
}

/** The pino logger of `serve` and `worker`: `level`, else `SWITCHYARD_LOG_LEVEL`, else info. */
export function loggerFromEnv(level: string | undefined, env: NodeJS.ProcessEnv): Logger {
  return createLogger({ level: level ?? env.SWITCHYARD_LOG_LEVEL ?? 'info' });
}

/** A @statelyai/inspect WebSocket inspector to feed too (`SWITCHYARD_INSPECT_WS`), if any. */
export function inspectWebsocket(env: NodeJS.ProcessEnv): string | undefined {
  return env.SWITCHYARD_INSPECT_WS || undefined;
}

/** What a process that joins NATS tells the fleet's inspectors, from the environment (`SWITCHYARD_INSPECT_WS`, `SWITCHYARD_INSPECT_HEARTBEAT_MS`). */
export function natsInspectOptions(env: NodeJS.ProcessEnv): { websocketUrl: string | undefined; inspectHeartbeatMs?: number } {
  const inspectHeartbeatMs = inspectHeartbeat(env);
  return { websocketUrl: inspectWebsocket(env), ...(inspectHeartbeatMs === undefined ? {} : { inspectHeartbeatMs }) };
}

/** The longest inspector heartbeat the environment may ask for (ms): an hour. */
const MAX_INSPECT_HEARTBEAT_MS = 3_600_000;

/**
 * How often the process tells the fleet's inspectors it is alive (`SWITCHYARD_INSPECT_HEARTBEAT_MS`,
 * milliseconds), if set; a value that is not a whole number from 1 to an hour is a {@link ConfigError}.
 */
export function inspectHeartbeat(env: NodeJS.ProcessEnv): number | undefined {
  const raw = (env.SWITCHYARD_INSPECT_HEARTBEAT_MS ?? '').trim();
  if (raw === '') return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(ms >= 1 && ms <= MAX_INSPECT_HEARTBEAT_MS)) {
    throw new ConfigError(`SWITCHYARD_INSPECT_HEARTBEAT_MS must be a whole number of milliseconds from 1 to ${MAX_INSPECT_HEARTBEAT_MS}, not ${JSON.stringify(raw)}`);
  }
  return ms;
}

/**
 * Webhook receivers from the environment: `SWITCHYARD_WEBHOOK_URL` (several separated by commas)
 * and `SWITCHYARD_WEBHOOK_SECRET` (the HMAC secret; required with a URL).
 */
export function webhooksFromEnv(env: NodeJS.ProcessEnv): WebhookTarget[] | undefined {
  const urls = (env.SWITCHYARD_WEBHOOK_URL ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) return undefined;
  const secret = env.SWITCHYARD_WEBHOOK_SECRET ?? '';
  if (secret === '') throw new Error('SWITCHYARD_WEBHOOK_URL is set but SWITCHYARD_WEBHOOK_SECRET is not: webhooks are always signed');
  for (const url of urls) {
    // Userinfo is sent as Authorization: Basic (so it must decode); a message names the URL by
    // origin and path only: userinfo and a query token are credentials.
    const target = deliveryTargetOf(url);
    const error = !/^https?:\/\//.test(url) ? 'is not an http(s) URL' : target.success ? undefined : target.error;
    if (error !== undefined) throw new ConfigError(`SWITCHYARD_WEBHOOK_URL: ${target.success ? target.data.receiver : (target.receiver ?? 'a value that')} ${error}`);
  }
  return urls.map((url) => ({ url, secret }));
}
