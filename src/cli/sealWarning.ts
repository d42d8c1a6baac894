import type { Agent } from '../agent/agent.js';
import { isSecretKey } from '../context/redact.js';
import type { Logger } from '../logger.js';

/**
 * The tools of `agents` whose input has a property named as a secret at its top level (`password`,
 * `token`, `apiKey`…: what the thread keeps only sealed), each once, as `create_account (password)`.
 */
export function toolsWithSecretArgs(agents: readonly Agent[]): string[] {
  const named = new Map<string, string>();
  for (const tool of agents.flatMap((a) => a.tools)) {
    const properties = tool.parameters.properties;
    if (named.has(tool.name) || typeof properties !== 'object' || properties === null) continue;
    const secret = Object.keys(properties).filter(isSecretKey);
    if (secret.length > 0) named.set(tool.name, `${tool.name} (${secret.join(', ')})`);
  }
  return [...named.values()];
}

/**
 * Warns, as one log line, that a process runs `agents`' threads with no seal secret while a tool of
 * theirs takes a secret-named argument: its calls are refused (an `invalid_args` error the model
 * sees) until `SWITCHYARD_SEAL_SECRET` is set. Logs nothing when no tool does.
 */
export function warnUnsealedTools(logger: Logger, agents: readonly Agent[]): void {
  const tools = toolsWithSecretArgs(agents);
  if (tools.length === 0) return;
  logger.warn({ tools }, `no seal secret (SWITCHYARD_SEAL_SECRET): calls of ${tools.join(', ')} will be refused until it is set, since their arguments hold secrets the threads may keep only sealed`);
}
