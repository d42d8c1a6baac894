import { agent, type Agent } from '../../src/agent/agent.js';
import { calculatorTools } from '../../tools/calculator.js';

/** The 12-factor agents workshop example: arithmetic with tools; divisions need a human's approval. */
export const calculator: Agent = agent({
  name: 'calculator',
  description: 'does arithmetic with add, subtract, multiply and divide tools',
  prompt: new URL('./prompt.md', import.meta.url),
  tools: calculatorTools,
  maxSteps: 12,
});
