import { pino } from 'pino';
import type { Logger } from '../logger.js';
import { redactText } from './redact.js';

type Hooks = { streamWrite?: (line: string) => string } & Record<string, unknown>;
type WithHooks = Record<symbol, Hooks | undefined>;

// Built once per logger and list of secrets (an agent's), and dropped with either.
const built = new WeakMap<Logger, WeakMap<readonly string[], Logger>>();

/**
 * `logger`, or a child of it whose lines never show `secrets`: every line it and its children
 * write has the secrets (and secret-shaped text, such as `sk-…` keys) replaced with `[REDACTED]`,
 * as a thread's text is ({@link redactText}), wherever they are: a field, a nested value, the
 * message, an error's message or stack, the bindings. With no secrets it is `logger` itself, at no
 * cost; otherwise it is built once per logger and list, and costs only what a line written costs.
 *
 * The line is redacted as pino writes it (its `streamWrite` hook, set on this child through
 * `pino.symbols` as pino offers it to libraries; a hook the root logger had runs after), so
 * nothing of what is logged needs walking, and a level not enabled costs nothing.
 */
export function redactingLogger(logger: Logger, secrets: readonly string[]): Logger {
  if (secrets.length === 0) return logger;
  let bySecrets = built.get(logger);
  if (bySecrets === undefined) built.set(logger, (bySecrets = new WeakMap()));
  let redacting = bySecrets.get(secrets);
  if (redacting === undefined) bySecrets.set(secrets, (redacting = build(logger, secrets)));
  return redacting;
}

function build(logger: Logger, secrets: readonly string[]): Logger {
  const child = logger.child({});
  // A secret as it stands inside a JSON string: a quote or a backslash in it is escaped there.
  const written = secrets.map((secret) => JSON.stringify(secret).slice(1, -1));
  const hooks = (child as unknown as WithHooks)[pino.symbols.hooksSym];
  const after = hooks?.streamWrite;
  const streamWrite = (line: string): string => {
    const clean = redactText(line, written);
    return after === undefined ? clean : after(clean);
  };
  // pino reads the hook from the logger that writes, so this child's children inherit it.
  (child as unknown as WithHooks)[pino.symbols.hooksSym] = { ...hooks, streamWrite };
  return child;
}
