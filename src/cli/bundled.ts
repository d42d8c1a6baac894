import { bugfix } from '../../agents/bugfix/index.js';
import { calculator } from '../../agents/calculator/index.js';
import { createDeploybot } from '../../agents/deploybot/index.js';
import { triage } from '../../agents/triage/index.js';
import type { SwitchyardConfig } from '../runtime/config.js';
import { shellQuote } from './format.js';

/** The demo thread's input: two steps, the second a division that needs approval. */
export const DEMO_INPUT = 'what is (3 + 4) / 2';

/**
 * The bundled example agents and pipeline, as a project: what `serve` and `worker` run when the
 * working directory has no `switchyard.config.*` and no `--config` is given.
 */
export function bundledProject(): SwitchyardConfig {
  return {
    agents: [calculator, createDeploybot(), triage],
    pipelines: [bugfix],
    demo: { agent: 'calculator', input: DEMO_INPUT },
  };
}

/** Commands worth trying against the bundled agents (printed by `serve`). */
export const BUNDLED_EXAMPLES: readonly string[] = [
  `launch calculator ${shellQuote(DEMO_INPUT)}`,
  `launch deploybot ${shellQuote('deploy the latest backend to staging')}`,
  `launch bugfix --input-json ${shellQuote('{"report":"users get a 500 on login after their session expired"}')}`,
];
