import { sealSecretsOf } from '../context/sealedArgs.js';
import { parseSecretList } from '../context/secretList.js';
import { ConfigError } from '../errors.js';
import { createLogger, isLogLevel, LOG_LEVELS, type Logger } from '../logger.js';
import { createDemoModel } from '../model/demoModel.js';
import type { Model } from '../model/model.js';
import type { NatsCredentials } from '../nats/natsAuth.js';
import { createOpenAIModel, openAIKeyWithheld } from '../model/openaiModel.js';
import { redactUrl } from '../context/redactUrl.js';
import type { WebhookTarget } from '../server/webhooks.js';
import { deliveryTargetOf } from '../store/deliveryTarget.js';
import { parseDuration } from './cutoff.js';

// What `serve` and `worker` read from the environment, in one place.

/** The variables that configure a real model, as `serve` lists them when none is set. */
export const MODEL_VARIABLES = 'SWITCHYARD_MODEL_API_KEY, OPENAI_API_KEY, SWITCHYARD_MODEL_BASE_URL or OPENAI_BASE_URL';

/**
 * Whether a real model is configured through the environment: a key, or the base URL of an
 * OpenAI-compatible server (`SWITCHYARD_MODEL_BASE_URL`, else the OpenAI SDK's `OPENAI_BASE_URL`),
 * which may need no key (Ollama, vLLM).
 */
export function hasModelConfig(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.SWITCHYARD_MODEL_API_KEY || env.OPENAI_API_KEY || modelBaseUrl(env));
}

/**
 * What `serve` and `worker` say at start when the environment's OPENAI_API_KEY is kept from the
 * server SWITCHYARD_MODEL_BASE_URL names (see `createOpenAIModel`'s `apiKey`); undefined otherwise.
 * Said whichever model runs: a project's config that supplies its own (the README's calls
 * `createOpenAIModel()`) reads the same environment.
 */
export function withheldKeyNote(env: NodeJS.ProcessEnv): string | undefined {
  if (!openAIKeyWithheld(env)) return undefined;
  return `model key: OPENAI_API_KEY is not sent to ${redactUrl(env.SWITCHYARD_MODEL_BASE_URL!.trim())} (OpenAI's key goes only to OpenAI or to OPENAI_BASE_URL): set SWITCHYARD_MODEL_API_KEY if that server needs a key`;
}

/** The base URL of the OpenAI-compatible model the environment sets, if any (`SWITCHYARD_MODEL_BASE_URL`, else `OPENAI_BASE_URL`). */
export function modelBaseUrl(env: NodeJS.ProcessEnv): string | undefined {
  return env.SWITCHYARD_MODEL_BASE_URL || env.OPENAI_BASE_URL || undefined;
}

/**
 * The model of a process: the project's own, else an OpenAI-compatible one when the environment
 * configures it, else the scripted demo model. `configured` says whether a real model runs.
 */
export function modelFromEnv(env: NodeJS.ProcessEnv, own?: Model): { model: Model; configured: boolean; own: boolean } {
  if (own !== undefined) return { model: own, configured: true, own: true };
  const configured = hasModelConfig(env);
  if (!configured) return { model: createDemoModel(), configured, own: false };
  // Read from `env`, the environment this command was given, as `configured` was.
  return { model: createOpenAIModel({ env }), configured, own: false };
}

/**
 * The credentials of the NATS connection the environment sets, if any: `NATS_CREDS` (the path of a
 * `.creds` file), `NATS_TOKEN`, or `NATS_USER` with `NATS_PASSWORD`; one kind at a time. Empty
 * values are unset. Credentials in the NATS URL (`nats://user:pass@host`) are used when none is set.
 */
export function natsCredentialsFromEnv(env: NodeJS.ProcessEnv): NatsCredentials | undefined {
  const credsFile = env.NATS_CREDS || undefined;
  const token = env.NATS_TOKEN || undefined;
  const user = env.NATS_USER || undefined;
  const pass = env.NATS_PASSWORD || undefined;
  if (pass !== undefined && user === undefined) throw new ConfigError('NATS_PASSWORD is set but NATS_USER is not: set both, or neither');
  if (user !== undefined && pass === undefined) throw new ConfigError('NATS_USER is set but NATS_PASSWORD is not: set both, or neither');
  const kinds = [credsFile, token, user].filter((value) => value !== undefined).length;
  if (kinds > 1) throw new ConfigError('set only one of NATS_CREDS, NATS_TOKEN or NATS_USER with NATS_PASSWORD');
  if (credsFile !== undefined) return { credsFile };
  if (token !== undefined) return { token };
  if (user !== undefined && pass !== undefined) return { user, pass };
  return undefined;
}

/**
 * The pino logger of `serve` and `worker`: `level` (`--log-level`), else `SWITCHYARD_LOG_LEVEL`,
 * else info. A level pino does not know is a {@link ConfigError} naming the setting and the levels.
 */
export function loggerFromEnv(level: string | undefined, env: NodeJS.ProcessEnv): Logger {
  return createLogger({ level: logLevelFromEnv(level, env) });
}

/** The level {@link loggerFromEnv} uses, checked: `level`, else `SWITCHYARD_LOG_LEVEL`, else info. */
function logLevelFromEnv(level: string | undefined, env: NodeJS.ProcessEnv): string {
  const [setting, raw] = level !== undefined ? ['--log-level', level] : ['SWITCHYARD_LOG_LEVEL', env.SWITCHYARD_LOG_LEVEL ?? ''];
  const value = raw.trim().toLowerCase();
  if (value === '' && level === undefined) return 'info';
  if (!isLogLevel(value)) {
    const levels = `${LOG_LEVELS.slice(0, -1).join(', ')} or ${LOG_LEVELS.at(-1)!}`;
    throw new ConfigError(`${setting} must be one of ${levels} (got ${JSON.stringify(raw)})`);
  }
  return value;
}

/**
 * A @statelyai/inspect WebSocket inspector to feed too (`SWITCHYARD_INSPECT_WS`), if any; a value
 * that is not a `ws://` or `wss://` URL is a {@link ConfigError}.
 */
export function inspectWebsocket(env: NodeJS.ProcessEnv): string | undefined {
  const raw = (env.SWITCHYARD_INSPECT_WS ?? '').trim();
  if (raw === '') return undefined;
  let protocol: string | undefined;
  try {
    protocol = new URL(raw).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'ws:' && protocol !== 'wss:') throw new ConfigError(`SWITCHYARD_INSPECT_WS must be a ws:// or wss:// URL (got ${JSON.stringify(raw)})`);
  return raw;
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
 * and `SWITCHYARD_WEBHOOK_SECRET` (the HMAC secret; required with a URL). A URL that is not
 * http(s), an empty item (a stray comma), or a URL without a secret, is a {@link ConfigError}.
 */
export function webhooksFromEnv(env: NodeJS.ProcessEnv): WebhookTarget[] | undefined {
  const raw = env.SWITCHYARD_WEBHOOK_URL ?? '';
  if (raw.trim() === '') return undefined;
  const urls = raw.split(',').map((u) => u.trim());
  // As the `_PREVIOUS` lists: a stray comma is a typo, not a receiver fewer.
  const empty = urls.indexOf('');
  if (empty >= 0) throw new ConfigError(`SWITCHYARD_WEBHOOK_URL: item ${empty + 1} of ${urls.length} is empty: separate the URLs with single commas, none at either end`);
  const secret = env.SWITCHYARD_WEBHOOK_SECRET ?? '';
  if (secret === '') throw new ConfigError('SWITCHYARD_WEBHOOK_URL is set but SWITCHYARD_WEBHOOK_SECRET is not: webhooks are always signed');
  for (const url of urls) {
    // Userinfo is sent as Authorization: Basic (so it must decode); a message names the URL by
    // origin and path only: userinfo and a query token are credentials.
    const target = deliveryTargetOf(url);
    if (!target.success) throw new ConfigError(`SWITCHYARD_WEBHOOK_URL: ${target.receiver ?? 'a value that'} ${target.error}`);
  }
  return urls.map((url) => ({ url, secret }));
}

/** The shortest retention `SWITCHYARD_RETAIN_ENDED` may ask for: a minute. */
const MIN_RETAIN_MS = 60_000;
/** The longest: 100 years (`36500d`); longer is a typo, or so many digits it is no number (Infinity). */
const MAX_RETAIN_MS = 36_500 * 86_400_000;

/**
 * How long `serve` keeps threads that ended (`SWITCHYARD_RETAIN_ENDED`: a duration such as `30d`
 * or `12h`, from `1m` to `36500d`), in ms; undefined (kept for ever) when unset or empty. Anything
 * else is a {@link ConfigError} naming the setting.
 */
export function retainEndedFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.SWITCHYARD_RETAIN_ENDED ?? '';
  if (raw.trim() === '') return undefined;
  const ms = parseDuration(raw.trim());
  if (ms === undefined || ms < MIN_RETAIN_MS) throw new ConfigError(`SWITCHYARD_RETAIN_ENDED must be a duration of at least 1m such as 30d or 12h (got ${JSON.stringify(raw)})`);
  if (!(ms <= MAX_RETAIN_MS)) throw new ConfigError(`SWITCHYARD_RETAIN_ENDED must be a duration of at most 36500d (100 years) (got ${JSON.stringify(raw)})`);
  return ms;
}

/** The webhook secret of a process and the ones it replaced, from the environment (see {@link webhookSecretsFromEnv}). */
export interface WebhookSecrets {
  /** `SWITCHYARD_WEBHOOK_SECRET`: signs webhooks and callbacks, seals a callbackUrl's credentials. */
  readonly secret: string;
  /** `SWITCHYARD_WEBHOOK_SECRET_PREVIOUS`: credentials sealed under them still open. */
  readonly previousSecrets: readonly string[];
}

/**
 * `SWITCHYARD_WEBHOOK_SECRET` and the secrets it replaced, `SWITCHYARD_WEBHOOK_SECRET_PREVIOUS`
 * (comma-separated; see `parseSecretList`): previous secrets without a current one, an empty item,
 * or the current secret among them is a {@link ConfigError} naming the settings and the item's
 * place, never a secret.
 */
export function webhookSecretsFromEnv(env: NodeJS.ProcessEnv): WebhookSecrets {
  const secret = checkedSecret(env.SWITCHYARD_WEBHOOK_SECRET ?? '', 'SWITCHYARD_WEBHOOK_SECRET');
  const raw = env.SWITCHYARD_WEBHOOK_SECRET_PREVIOUS;
  if (secret === '' && (raw ?? '').trim() !== '') {
    throw new ConfigError('SWITCHYARD_WEBHOOK_SECRET_PREVIOUS is set but SWITCHYARD_WEBHOOK_SECRET is not: previous secrets only open what the current one replaced');
  }
  return { secret, previousSecrets: previousSecretsOf('SWITCHYARD_WEBHOOK_SECRET_PREVIOUS', raw, secret) };
}

/**
 * The seal secrets of a process (see `RuntimeOptions.sealSecret`): the config's `sealSecret` when
 * it gives one, else `SWITCHYARD_SEAL_SECRET` followed by the secrets it replaced,
 * `SWITCHYARD_SEAL_SECRET_PREVIOUS` (comma-separated), checked as {@link webhookSecretsFromEnv}
 * checks its own; none when unset. A blank secret, or the webhook secret (receivers hold that
 * one: they could open what it sealed), is a {@link ConfigError} naming the setting, never a secret.
 */
export function sealSecretsFromEnv(env: NodeJS.ProcessEnv, configured?: string | readonly string[]): readonly string[] {
  if (configured !== undefined) return sealSecretsOf(configured);
  const secret = checkedSecret(env.SWITCHYARD_SEAL_SECRET ?? '', 'SWITCHYARD_SEAL_SECRET');
  const raw = env.SWITCHYARD_SEAL_SECRET_PREVIOUS;
  if (secret === '' && (raw ?? '').trim() !== '') {
    throw new ConfigError('SWITCHYARD_SEAL_SECRET_PREVIOUS is set but SWITCHYARD_SEAL_SECRET is not: previous secrets only open what the current one replaced');
  }
  if (secret === '') return [];
  if (secret === env.SWITCHYARD_WEBHOOK_SECRET) {
    throw new ConfigError('SWITCHYARD_SEAL_SECRET must not be the webhook secret (SWITCHYARD_WEBHOOK_SECRET): receivers hold that one; give it a secret of its own');
  }
  return [secret, ...previousSecretsOf('SWITCHYARD_SEAL_SECRET_PREVIOUS', raw, secret)];
}

/**
 * The hook secrets `hookSecret` (`--hook-secret` or `SWITCHYARD_HOOK_SECRET`) replaced,
 * `SWITCHYARD_HOOK_SECRET_PREVIOUS` (comma-separated), checked as {@link webhookSecretsFromEnv}
 * checks its own.
 */
export function hookPreviousSecretsFromEnv(env: NodeJS.ProcessEnv, hookSecret: string): readonly string[] {
  const raw = env.SWITCHYARD_HOOK_SECRET_PREVIOUS;
  if (hookSecret === '' && (raw ?? '').trim() !== '') {
    throw new ConfigError('SWITCHYARD_HOOK_SECRET_PREVIOUS is set but the hook secret is not (--hook-secret or SWITCHYARD_HOOK_SECRET): previous secrets only verify beside the current one');
  }
  return previousSecretsOf('SWITCHYARD_HOOK_SECRET_PREVIOUS', raw, hookSecret);
}

/**
 * A secret as given (blanks around it included; empty: none), or, when it is only blanks (a secret
 * file that came out as a newline), a {@link ConfigError} naming `setting`: a blank secret anyone
 * could guess would sign webhooks, or let anyone sign a hook.
 */
export function checkedSecret(raw: string, setting: string): string {
  if (raw !== '' && raw.trim() === '') throw new ConfigError(`${setting} is blank (only whitespace): set the secret itself, or leave it empty for none`);
  return raw;
}

/** `1 previous <what>`, `2 previous <what>s`: how many, never which. */
export function previousSecretsNamed(count: number, what: string): string {
  return `${count} previous ${what}${count === 1 ? '' : 's'}`;
}

function previousSecretsOf(setting: string, raw: string | undefined, current: string): readonly string[] {
  const parsed = parseSecretList(raw, current);
  if (!parsed.success) throw new ConfigError(`${setting}: ${parsed.error}`);
  return parsed.data;
}
