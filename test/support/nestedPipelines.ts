import { z } from 'zod';
import { pipeline } from '../../src/pipeline/pipeline.js';

/** halve: a pipeline that asks the calculator to divide, which asks a human to approve the division. */
export const halve = pipeline({ name: 'halve', description: 'asks the calculator to divide', input: z.unknown(), output: z.unknown() })
  .agent({ name: 'divide', agent: 'calculator', input: () => 'what is 8 / 2' })
  .finish(({ results }) => results.divide);

/** outer -> halve (a pipeline) -> calculator: a child waiting for a human two levels down. */
export const outer = pipeline({ name: 'outer', description: 'halves', input: z.unknown(), output: z.unknown() })
  .agent({ name: 'half', agent: 'halve', input: () => ({}) })
  .finish(({ results }) => results.half);
