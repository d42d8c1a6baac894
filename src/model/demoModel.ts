import { estimateTokens } from '../context/renderContext.js';
import { parseContext } from '../context/parseContext.js';
import { calculatorSkill } from './demo/calculatorSkill.js';
import { deploySkill } from './demo/deploySkill.js';
import { done, type DemoSkill, type Step } from './demo/blocks.js';
import { triageSkill } from './demo/triageSkill.js';
import type { Model, ModelRequest, ModelResult } from './model.js';

export { parseArithmetic } from './demo/arithmetic.js';

/** The name the demo model records on decisions. */
export const DEMO_MODEL_NAME = 'switchyard-demo';

/** What the demo model can do, chosen by the tools a request offers (first match wins). */
const SKILLS: readonly DemoSkill[] = [calculatorSkill, deploySkill, triageSkill];

/**
 * A deterministic, rule-based {@link Model} for the bundled agents, so a newcomer with no API key
 * sees real runs: tool calls, approvals, denials and human input, all through the real runtime.
 *
 * Like a real model it is a pure function of what it is shown: it reads the context with
 * {@link parseContext} (the renderer's own format) and picks its rules by the tools it is offered,
 * not by the agent's name, so any agent with those tools runs on it:
 *
 * - add, subtract, multiply, divide: arithmetic from the request, one tool call per operation.
 * - list_git_tags, deploy_backend, deploy_frontend (and rollback): deploys or rolls back a tag.
 * - search_known_issues, file_triage: triages a bug report.
 * - anything else: finishes at once, saying it only knows these tool sets.
 *
 * A call interrupted before its outcome was recorded that a human says took effect
 * (`took_effect="true"`) is never called again: the run finishes saying what was done. One they
 * say did not take effect is asked for again, as if never made.
 *
 * Internal: `switchyard serve` and `worker` use it for the bundled agents when no model is
 * configured; no entry point exports it (test your own agents with `scriptedModel` from
 * `switchyard/testing`).
 */
export function createDemoModel(): Model {
  return {
    name: DEMO_MODEL_NAME,
    async complete(request: ModelRequest): Promise<ModelResult> {
      const step = decide(request);
      const args = JSON.stringify(step.args);
      return {
        success: true,
        data: {
          toolCall: { name: step.intent, arguments: args },
          usage: {
            prompt: estimateTokens(request.system) + estimateTokens(request.context),
            completion: estimateTokens(step.intent) + estimateTokens(args),
          },
          model: DEMO_MODEL_NAME,
        },
      };
    },
  };
}

function decide(request: ModelRequest): Step {
  // An agent whose prompt embeds the context gets a placeholder as the user message.
  const context = request.context.includes('<input') ? request.context : request.system;
  const offered = new Set(request.tools.map((t) => t.name));
  const skill = SKILLS.find((s) => s.tools.every((t) => offered.has(t)));
  if (skill !== undefined) return skill.decide(parseContext(context));
  return done(
    `The demo model only knows the bundled agents' tools (${SKILLS.map((s) => s.name).join(', ')}), so agent "${request.agent}" did nothing. ` +
      'Set SWITCHYARD_MODEL_API_KEY (or OPENAI_API_KEY, or SWITCHYARD_MODEL_BASE_URL or OPENAI_BASE_URL for a local server) to run it with a real model.',
  );
}
