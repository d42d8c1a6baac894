import { z } from 'zod';
import { agentStep, codeStep, pipeline, type Pipeline } from '../../src/pipeline/pipeline.js';
import { triageSchema, type Triage } from '../../tools/triage.js';

const planSchema = z.object({
  deploy: z.boolean(),
  service: z.enum(['backend', 'frontend']).optional(),
  tag: z.string().optional(),
  environment: z.enum(['staging', 'production']).optional(),
  reason: z.string(),
});
type Plan = z.infer<typeof planSchema>;

/**
 * The bundled pipeline: triage an incoming bug report (agent), decide in code whether a known fix
 * can ship, then hand the deploy to deploybot (agent, with a human approving the deploy).
 */
export const bugfix: Pipeline = pipeline({
  name: 'bugfix',
  description: 'triage a bug report, then have deploybot ship the known fix to staging (with approval)',
  input: z.object({ report: z.string().min(1).max(10_000) }),
  output: z.object({ triage: triageSchema, plan: planSchema, deployment: z.unknown() }),
  steps: [
    agentStep({ name: 'triage', agent: 'triage', input: ({ input }) => (input as { report: string }).report, output: triageSchema }),
    codeStep({
      name: 'plan',
      run: ({ results }): Plan => {
        const verdict = results.triage as Triage;
        if (verdict.fixTag === undefined) return { deploy: false, reason: 'no released fix for this issue yet' };
        if (verdict.severity === 'low') return { deploy: false, reason: 'low severity: ships with the next release' };
        return { deploy: true, service: verdict.component, tag: verdict.fixTag, environment: 'staging', reason: `${verdict.severity} severity with fix ${verdict.fixTag}` };
      },
    }),
    agentStep({
      name: 'deploy',
      agent: 'deploybot',
      skip: ({ results }) => !(results.plan as Plan).deploy,
      input: ({ results }) => {
        const plan = results.plan as Plan;
        return `Deploy the ${plan.service} at tag ${plan.tag} to ${plan.environment}. Reason: ${plan.reason}.`;
      },
    }),
  ],
  finish: ({ results }) => ({ triage: results.triage as Triage, plan: results.plan as Plan, deployment: results.deploy ?? null }),
});
