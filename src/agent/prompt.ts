import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';

/** The variables a prompt template can use, as `{{name}}`: the built-ins and the agent's own. */
export interface PromptVariables {
  readonly [name: string]: string;
  agent: string;
  description: string;
  /** The tools as a bullet list: `- name: description`. */
  tools: string;
  /** The thread in switchyard's compact format. If the template omits it, it is sent as the user message. */
  context: string;
}

const VARIABLE = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g;
const KNOWN = new Set<string>(['agent', 'description', 'tools', 'context']);

/** A prompt template loaded from a file (or given inline), checked for unknown variables. */
export interface PromptTemplate {
  readonly source: string;
  readonly text: string;
  /** Whether the template places `{{context}}` itself. */
  readonly includesContext: boolean;
  render(variables: PromptVariables): string;
}

/** A string that is a file name rather than a prompt: one word ending in a template's extension. */
const LOOKS_LIKE_PATH = /^\S+\.(md|markdown|txt|prompt|tmpl|hbs|mustache|njk|jinja)$/i;

/** Loads a template: a `URL` (a file next to the agent, versioned with the code) or inline text. */
export function promptTemplate(prompt: string | URL, own: readonly string[] = []): PromptTemplate {
  for (const name of own) {
    if (KNOWN.has(name)) throw new ConfigError(`prompt variable {{${name}}} is built in and cannot be redefined`);
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new ConfigError(`prompt variable name "${name}" must be letters, digits and _`);
  }
  if (typeof prompt === 'string' && LOOKS_LIKE_PATH.test(prompt)) {
    throw new ConfigError(
      `prompt "${prompt}" looks like a file path, and a string is the prompt's text: to load the file, pass new URL('${prompt}', import.meta.url)`,
    );
  }
  const known = new Set([...KNOWN, ...own]);
  const source = prompt instanceof URL ? fileURLToPath(prompt) : '(inline)';
  let text: string;
  try {
    text = prompt instanceof URL ? readFileSync(prompt, 'utf8') : prompt;
  } catch (error) {
    throw new ConfigError(`cannot read prompt template ${source}`, { cause: error });
  }
  for (const match of text.matchAll(VARIABLE)) {
    if (!known.has(match[1]!)) {
      throw new ConfigError(`prompt template ${source} uses unknown variable {{${match[1]}}}; known: ${[...known].join(', ')}`);
    }
  }
  return {
    source,
    text,
    includesContext: /\{\{\s*context\s*\}\}/.test(text),
    render: (variables) => text.replace(VARIABLE, (_, name: string) => variables[name] ?? ''),
  };
}

/**
 * `sha256:` + the first 16 hex digits of the SHA-256 of the rendered prompt and, when given, the
 * tools sent with it (`toolsDigest`: their names, descriptions and schemas, see {@link toolsDigest}):
 * both are what the model is prompted with, so a changed tool schema is another prompt.
 */
export function promptHash(rendered: string, tools = ''): string {
  const hash = createHash('sha256').update(rendered);
  if (tools !== '') hash.update('\u0000').update(tools);
  return `sha256:${hash.digest('hex').slice(0, 16)}`;
}

/** The SHA-256 (hex) of the tools as the model is offered them, computed once per agent for {@link promptHash}. */
export function toolsDigest(specs: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(specs)).digest('hex');
}
