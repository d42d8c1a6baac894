import { pino } from 'pino';
import type { Logger } from '../logger.js';
import { redactText } from './redact.js';

type Hooks = { streamWrite?: (line: string) => string } & Record<string, unknown>;
type WithHooks = Record<symbol, Hooks | undefined>;

// Built once per logger and lists of secrets (an agent's, its model's), and dropped with any of them.
const built = new WeakMap<Logger, WeakMap<readonly string[], WeakMap<readonly string[], Logger>>>();
const NONE: readonly string[] = [];
type StreamWrite = (line: string) => string;
// The hooks this module set, each with the hook it runs after (the logger's own, if any): a child
// of a redacting logger redacts its lines once, not twice.
const redactions = new WeakMap<StreamWrite, { readonly after: StreamWrite | undefined; readonly written: readonly string[] }>();

/**
 * A child of `logger` whose lines never show `secrets` nor `more` (an agent's secrets, its model's
 * key): every line it and its children write has them, secret-shaped text (`sk-…` keys, `Bearer …`,
 * a URL's password and secret query values) and the values of secret-named fields (`password`,
 * `token`, `apiKey`… at any depth) replaced, as a thread's text is ({@link redactText}), wherever
 * they are: a field, a nested value, the message, an error's message or stack, the bindings. It is
 * built once per logger and lists, and costs only what a line written costs: a line with nothing
 * that could be a secret in it is given back after one test.
 *
 * The line is redacted as pino writes it (its `streamWrite` hook, set on this child through
 * `pino.symbols` as pino offers it to libraries; a hook the root logger had runs after), so
 * nothing of what is logged needs walking, and a level not enabled costs nothing.
 */
export function redactingLogger(logger: Logger, secrets: readonly string[], more: readonly string[] = NONE): Logger {
  let bySecrets = built.get(logger);
  if (bySecrets === undefined) built.set(logger, (bySecrets = new WeakMap()));
  let byMore = bySecrets.get(secrets);
  if (byMore === undefined) bySecrets.set(secrets, (byMore = new WeakMap()));
  let redacting = byMore.get(more);
  if (redacting === undefined) byMore.set(more, (redacting = build(logger, more.length === 0 ? secrets : [...secrets, ...more])));
  return redacting;
}

function build(logger: Logger, secrets: readonly string[]): Logger {
  const child = logger.child({});
  // A secret as it stands inside a JSON string: a quote or a backslash in it is escaped there.
  const written = secrets.map((secret) => JSON.stringify(secret).slice(1, -1));
  const hooks = (child as unknown as WithHooks)[pino.symbols.hooksSym];
  // The hook of an enclosing redacting logger (serve's, on every line) masks the text rules and
  // its secrets: not run again; its secrets join this one's, and the hook it ran after runs after.
  let after = hooks?.streamWrite;
  for (let outer = after && redactions.get(after); outer !== undefined; outer = after && redactions.get(after)) {
    written.push(...outer.written.filter((secret) => !written.includes(secret)));
    after = outer.after;
  }
  const streamWrite = (line: string): string => {
    const clean = redactText(line, written);
    return after === undefined ? clean : after(clean);
  };
  redactions.set(streamWrite, { after, written });
  // pino reads the hook from the logger that writes, so this child's children inherit it.
  (child as unknown as WithHooks)[pino.symbols.hooksSym] = { ...hooks, streamWrite };
  return child;
}
