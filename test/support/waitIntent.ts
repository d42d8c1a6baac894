import { z } from 'zod';
import { intent } from '../../src/agent/customStep.js';

/** An intent handled by the author's code that sleeps durably for the seconds the model asks. */
export const waitForAWhile = intent({
  name: 'wait_for_a_while',
  description: 'Wait before checking again',
  input: z.object({ seconds: z.number().int().min(1).max(86_400) }),
  output: z.object({ waited: z.number() }),
  run: ({ seconds }) => ({ output: { waited: seconds }, waitMs: seconds * 1000 }),
});
