import { agent, type Agent } from '../../src/agent/agent.js';
import { createSimulatedDeployTarget, deployTools, type DeployTarget } from '../../tools/deploy.js';

/** Options of {@link createDeploybot}. */
export interface DeploybotOptions {
  /** @default a simulated in-memory target */
  target?: DeployTarget;
}

/** deploybot: lists tags, deploys the backend or frontend with approval, rolls back. */
export function createDeploybot(options: DeploybotOptions = {}): Agent {
  const { target = createSimulatedDeployTarget() } = options;
  return agent({
    name: 'deploybot',
    description: 'deploys tagged releases of the backend and frontend, with a human approving each deploy',
    prompt: new URL('./prompt.md', import.meta.url),
    tools: deployTools(target),
    maxSteps: 12,
  });
}
