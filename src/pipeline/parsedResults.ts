import type { z } from 'zod';
import { formatIssues, messageOf } from '../errors.js';
import type { Json } from '../thread/events.js';
import type { Pipeline } from './pipelineDefinition.js';

/** A parse's outcome, as a value. */
export type Parsed<T> = { readonly success: true; readonly data: T } | { readonly success: false; readonly error: string };

/**
 * `value` parsed with a schema of the author's, as a value: a schema that throws (a refinement or
 * a transform) is a failure naming why, never an exception out of the step (which would stop the
 * actor and leave the pipeline running).
 */
export function parseWith(schema: z.ZodType, value: unknown): Parsed<unknown> {
  let parsed: ReturnType<z.ZodType['safeParse']>;
  try {
    parsed = schema.safeParse(value);
  } catch (error) {
    return { success: false, error: `its schema threw: ${messageOf(error)}` };
  }
  return parsed.success ? { success: true, data: parsed.data } : { success: false, error: formatIssues(parsed.error.issues).join('; ') };
}

/**
 * The results the steps see: each step's latest recorded result (JSON), parsed again with its
 * `output` schema when it has one, as the pipeline's input is (so `z.iso.datetime().pipe(z.coerce.date())`
 * gives them a Date); a result an earlier version recorded after the schema (no `raw` mark) is
 * taken as recorded, as that version gave it. A skipped step keeps its `{ skipped: true }`. A recorded result its schema
 * refuses now (a schema changed since it ran) is a failure naming the step.
 */
export function parsedResults(pipeline: Pipeline, recorded: Readonly<Record<string, Json>>, raw: ReadonlySet<string>): Parsed<Readonly<Record<string, unknown>>> {
  const results: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(recorded)) {
    const step = pipeline.steps.find((s) => s.name === name);
    // A result an earlier version recorded after the schema (not raw), or a skip, is taken as recorded.
    const schema = raw.has(name) && !isSkipped(value) && (step?.kind === 'code' || step?.kind === 'agent') ? step.output : undefined;
    const parsed = schema === undefined ? { success: true as const, data: value } : parseWith(schema, value);
    if (parsed.success) results[name] = parsed.data;
    else return { success: false, error: `step ${name}: its recorded result does not pass its output schema now (did the schema change since it ran?): ${parsed.error}` };
  }
  return { success: true, data: results };
}

/** What a skipped step records (its schema never saw it). */
function isSkipped(value: Json): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && value.skipped === true && Object.keys(value).length === 1;
}
