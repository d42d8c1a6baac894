import { z } from 'zod';
import { tool, type Tool } from '../src/agent/tool.js';

const operands = z.object({ a: z.number().describe('left operand'), b: z.number().describe('right operand') });

/** a + b */
export const add: Tool = tool({ name: 'add', description: 'Add two numbers', input: operands, idempotent: true, run: ({ a, b }) => a + b });
/** a - b */
export const subtract: Tool = tool({ name: 'subtract', description: 'Subtract b from a', input: operands, idempotent: true, run: ({ a, b }) => a - b });
/** a * b */
export const multiply: Tool = tool({ name: 'multiply', description: 'Multiply two numbers', input: operands, idempotent: true, run: ({ a, b }) => a * b });
/** a / b; needs a human's approval, as in the 12-factor agents workshop. */
export const divide: Tool = tool({
  name: 'divide',
  description: 'Divide a by b (a human must approve each division)',
  input: operands,
  idempotent: true,
  approval: true,
  run: ({ a, b }) => {
    if (b === 0) throw new Error('division by zero');
    return a / b;
  },
});

/** The calculator's tools. */
export const calculatorTools: readonly Tool[] = [add, subtract, multiply, divide];
