import { pino, type Logger } from 'pino';

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

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** @default process.env.SWITCHYARD_LOG_LEVEL ?? 'info' */
  level?: string;
  /** @default the process's stderr */
  destination?: NodeJS.WritableStream;
}

/** A pino logger that redacts secret-looking fields. Logs go to stderr by default. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = process.env.SWITCHYARD_LOG_LEVEL ?? 'info', destination = process.stderr } = options;
  return pino(
    { name: 'switchyard', level, redact: { paths: [...REDACTED_LOG_PATHS], censor: '[REDACTED]' } },
    destination,
  );
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
