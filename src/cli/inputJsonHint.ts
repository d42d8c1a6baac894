import { ServerError, type Client } from './client.js';
import { shellQuote } from './format.js';

/** What the hint reads of an input's JSON schema (as `GET /agents` gives it). */
interface InputSchema {
  readonly type?: unknown;
  readonly properties?: Readonly<Record<string, InputSchema>>;
  readonly required?: readonly string[];
  readonly anyOf?: readonly InputSchema[];
  readonly oneOf?: readonly InputSchema[];
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
}

/**
 * The error to report for a launch whose input was given as words (sent as one string): when the
 * server refused it (400) and the agent's or pipeline's input does not take a string, the refusal
 * with a hint to give the input as JSON with `--input-json`, with the shape its schema asks for
 * (its required members); else `error` as it is. The hint keeps the server's code and issues.
 */
export async function withInputJsonHint(client: Client, agent: string, error: unknown): Promise<unknown> {
  if (!(error instanceof ServerError) || error.status !== 400) return error;
  let schema: InputSchema | undefined;
  try {
    schema = (await client.agents()).find((summary) => summary.name === agent)?.inputSchema as InputSchema | undefined;
  } catch {
    return error; // the refusal is still the thing to report
  }
  if (schema === undefined || takesText(schema)) return error;
  const kind = typeof schema.type === 'string' ? `a JSON ${schema.type}` : 'JSON';
  const example = shellQuote(JSON.stringify(sampleOf(schema, 0)));
  const hint = `its input is ${kind}, not words: give it with --input-json, e.g. --input-json ${example}`;
  return new ServerError(`${error.message} (${hint})`, error.status, error.issues, error.retryAfterMs, error.code);
}

/** Whether a value of `schema` can be a string (a schema that names no type may be one). */
function takesText(schema: InputSchema): boolean {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined) return alternatives.some(takesText);
  if (schema.const !== undefined || schema.enum !== undefined) return [schema.const, ...(schema.enum ?? [])].some((v) => typeof v === 'string');
  const { type } = schema;
  return type === undefined || type === 'string' || (Array.isArray(type) && type.includes('string'));
}

/** A value of the shape `schema` describes, with placeholders: what an example shows. */
function sampleOf(schema: InputSchema, depth: number): unknown {
  if (schema.const !== undefined) return schema.const;
  if (schema.enum !== undefined) return schema.enum[0];
  const first = (schema.anyOf ?? schema.oneOf)?.[0];
  if (first !== undefined) return sampleOf(first, depth);
  const type = Array.isArray(schema.type) ? (schema.type as unknown[])[0] : schema.type;
  if (type !== 'object') return PLACEHOLDERS[String(type)] ?? null;
  if (depth >= 3) return {};
  const members = (schema.required ?? []).map((name) => [name, sampleOf(schema.properties?.[name] ?? {}, depth + 1)]);
  return Object.fromEntries(members);
}

const PLACEHOLDERS: Readonly<Record<string, unknown>> = { string: '...', number: 0, integer: 0, boolean: false, array: [], null: null };
