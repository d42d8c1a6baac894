import { z } from 'zod';
import { tool, type Tool } from '../src/agent/tool.js';

/** A deployment made by {@link DeployTarget.deploy}. */
export interface Deployment {
  readonly id: string;
  readonly service: 'backend' | 'frontend';
  readonly tag: string;
  readonly environment: 'staging' | 'production';
}

/** Where deploybot deploys. Replace the simulated one with your CI/CD API. */
export interface DeployTarget {
  listTags(): Promise<string[]>;
  /** Must honour `idempotencyKey`: a second call with the same key returns the first deployment. */
  deploy(service: Deployment['service'], tag: string, environment: Deployment['environment'], idempotencyKey: string): Promise<Deployment>;
  rollback(service: Deployment['service'], environment: Deployment['environment'], idempotencyKey: string): Promise<Deployment | null>;
}

/** An in-memory target with a few tags, for the demo and tests. It records every deployment. */
export function createSimulatedDeployTarget(tags: readonly string[] = ['v1.4.0', 'v1.4.1', 'v1.5.0']): DeployTarget & { readonly history: Deployment[] } {
  const history: Deployment[] = [];
  const byKey = new Map<string, Deployment | null>();
  return {
    history,
    async listTags() {
      return [...tags];
    },
    async deploy(service, tag, environment, idempotencyKey) {
      const seen = byKey.get(idempotencyKey);
      if (seen) return seen;
      if (!tags.includes(tag)) throw new Error(`unknown tag ${tag}; known: ${tags.join(', ')}`);
      const deployment: Deployment = { id: `dep-${history.length + 1}`, service, tag, environment };
      history.push(deployment);
      byKey.set(idempotencyKey, deployment);
      return deployment;
    },
    async rollback(service, environment, idempotencyKey) {
      if (byKey.has(idempotencyKey)) return byKey.get(idempotencyKey) ?? null;
      const previous = history.filter((d) => d.service === service && d.environment === environment).at(-2) ?? null;
      if (previous) history.push(previous);
      byKey.set(idempotencyKey, previous);
      return previous;
    },
  };
}

const environment = z.enum(['staging', 'production']).describe('Where to deploy');

/** deploybot's tools over a target: list tags, deploy backend or frontend (with approval), roll back. */
export function deployTools(target: DeployTarget): Tool[] {
  const deploy = (service: Deployment['service']) =>
    tool({
      name: `deploy_${service}`,
      description: `Deploy a tag of the ${service} to an environment (a human must approve)`,
      input: z.object({ tag: z.string().describe('A git tag from list_git_tags'), environment }),
      approval: true,
      // The target deduplicates by idempotency key, so a re-run after a crash deploys once.
      idempotent: true,
      run: ({ tag, environment: env }, { idempotencyKey }) => target.deploy(service, tag, env, idempotencyKey),
    });
  return [
    tool({
      name: 'list_git_tags',
      description: 'List the git tags that can be deployed',
      input: z.object({}),
      idempotent: true,
      run: () => target.listTags(),
    }),
    deploy('backend'),
    deploy('frontend'),
    tool({
      name: 'rollback',
      description: 'Roll a service back to its previous deployment',
      input: z.object({ service: z.enum(['backend', 'frontend']), environment }),
      approval: true,
      run: async ({ service, environment: env }, { idempotencyKey }) =>
        (await target.rollback(service, env, idempotencyKey)) ?? { rolledBack: false, reason: 'no previous deployment' },
    }),
  ];
}
