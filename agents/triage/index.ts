import { agent, type Agent } from '../../src/agent/agent.js';
import { triageTools } from '../../tools/triage.js';

/** triage: matches a bug report against known issues and files a typed verdict. */
export const triage: Agent = agent({
  name: 'triage',
  description: 'triages incoming bug reports against the known issues',
  prompt: new URL('./prompt.md', import.meta.url),
  tools: triageTools(),
  maxSteps: 6,
});
