import { z } from 'zod';
import { FINISH, pipeline, type Pipeline } from '../../src/pipeline/pipeline.js';
import { triageSchema, type Triage } from '../../tools/triage.js';

const planSchema = z.object({
  deploy: z.boolean(),
  service: z.enum(['backend', 'frontend']).optional(),
  tag: z.string().optional(),
  environment: z.enum(['staging', 'production']).optional(),
  reason: z.string(),
});
type Plan = z.infer<typeof planSchema>;

/** Whether a triaged bug can ship its known fix now. */
function planFor(verdict: Triage): Plan {
  if (verdict.fixTag === undefined) return { deploy: false, reason: 'no released fix for this issue yet' };
  if (verdict.severity === 'low') return { deploy: false, reason: 'low severity: ships with the next release' };
  return { deploy: true, service: verdict.component, tag: verdict.fixTag, environment: 'staging', reason: `${verdict.severity} severity with fix ${verdict.fixTag}` };
}

/**
 * The bundled pipeline: triage an incoming bug report (agent), decide in code whether a known fix
 * can ship, branch on that decision, and hand the deploy to deploybot (agent, with a human
 * approving the deploy). Each step's output schema types the results the next steps see.
 */
export const bugfix: Pipeline = pipeline({
  name: 'bugfix',
  description: 'triage a bug report, then have deploybot ship the known fix to staging (with approval)',
  input: z.object({ report: z.string().min(1).max(10_000) }),
  output: z.object({ triage: triageSchema, plan: planSchema, deployment: z.unknown() }),
})
  .agent({ name: 'triage', agent: 'triage', input: ({ input }) => input.report, output: triageSchema })
  .code({ name: 'plan', output: planSchema, run: ({ results }) => planFor(results.triage) })
  // Nothing to ship: the pipeline ends here, and deploybot is never asked.
  .branch({ name: 'ship', choose: ({ results }) => (results.plan.deploy ? 'deploy' : FINISH) })
  .agent({
    name: 'deploy',
    agent: 'deploybot',
    input: ({ results }) => `Deploy the ${results.plan.service} at tag ${results.plan.tag} to ${results.plan.environment}. Reason: ${results.plan.reason}.`,
  })
  .finish(({ results }) => ({ triage: results.triage, plan: results.plan, deployment: results.deploy ?? { skipped: true } }));
