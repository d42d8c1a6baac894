import { pino, type Logger } from 'pino';
import { ConfigError } from './errors.js';

export type { Logger };

/** Keys whose values pino replaces with "[REDACTED]" wherever they appear in a log line. */
export const REDACTED_LOG_PATHS: readonly string[] = [
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'password',
  '*.password',
  'secret',
  '*.secret',
];

/** The levels a logger can be set to, least severe first, and `silent` (nothing). */
export const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Whether `level` is one of {@link LOG_LEVELS}. */
export function isLogLevel(level: string): boolean {
  return LOG_LEVELS.includes(level);
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** @default process.env.SWITCHYARD_LOG_LEVEL ?? 'info' */
  level?: string | undefined;
  /** @default the process's stderr */
  destination?: NodeJS.WritableStream | undefined;
}

/**
 * A pino logger that redacts secret-looking fields. Logs go to stderr by default. A level not in
 * {@link LOG_LEVELS} is a `ConfigError`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = process.env.SWITCHYARD_LOG_LEVEL ?? 'info', destination = process.stderr } = options;
  if (!isLogLevel(level)) throw new ConfigError(`log level must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(level)})`);
  return pino(
    { name: 'switchyard', level, redact: { paths: [...REDACTED_LOG_PATHS], censor: '[REDACTED]' } },
    destination,
  );
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
