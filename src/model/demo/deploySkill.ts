import type { ContextBlock } from '../../context/parseContext.js';
import { answers, clip, done, inputText, lastToolError, parseJson, tookEffect, type DemoSkill, type Step, type TookEffect } from './blocks.js';

type Block = ContextBlock;

/**
 * Lists the git tags, deploys the newest (or the named) tag of the backend (or the frontend) to
 * staging (or production), or rolls back, and reports what was done, or that a human denied it.
 */
export const deploySkill: DemoSkill = {
  name: 'deploy',
  tools: ['list_git_tags', 'deploy_backend', 'deploy_frontend'],
  decide: decideDeploybot,
};

function decideDeploybot(blocks: readonly Block[]): Step {
  const text = inputText(blocks).toLowerCase();
  const service = /\bfront[- ]?end\b/.test(text) ? 'frontend' : 'backend';
  const environment = /\bprod(uction)?\b/.test(text) ? 'production' : 'staging';
  const named = /\bv?\d+\.\d+(?:\.\d+)?\b/.exec(text)?.[0];
  const rollback = /\broll ?back\b/.test(text);

  const denied = answers(blocks).find((a) => a.kind === 'approval' && a.approved === false);
  if (denied !== undefined) {
    const why = denied.text ? ` The reviewer said: ${clip(denied.text)}` : '';
    const what = rollback ? `roll back the ${service} on ${environment}` : `deploy the ${service} to ${environment}`;
    return done(`Nothing was deployed: the request to ${what} was not approved.${why}`);
  }
  const effected = tookEffect(blocks);
  if (effected !== undefined && (effected.tool === 'rollback' || effected.tool.startsWith('deploy_'))) return done(tookEffectReport(effected, service, environment, named));
  const failure = lastToolError(blocks);
  if (failure !== undefined) return done(`The ${rollback ? 'rollback' : 'deploy'} did not happen: ${failure.body}`);

  const resultOf = (tool: string): Block | undefined => blocks.filter((b) => b.tag === 'tool_result' && b.attrs.tool === tool).at(-1);
  if (rollback) {
    const rolled = resultOf('rollback');
    if (rolled === undefined) return { intent: 'rollback', args: { service, environment } };
    return done(`Rolled back the ${service} on ${environment}: ${rolled.body}`);
  }
  const tagsResult = resultOf('list_git_tags');
  if (tagsResult === undefined) return { intent: 'list_git_tags', args: {} };
  const deployed = resultOf(`deploy_${service}`);
  if (deployed !== undefined) {
    const d = parseJson(deployed.body) as { id?: string; tag?: string } | null;
    const tag = d?.tag ?? named ?? 'the tag';
    return done(`Deployed the ${service} ${tag} to ${environment}${d?.id ? ` (deployment ${d.id})` : ''}.`);
  }
  const tags = parseJson(tagsResult.body);
  const list = Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
  if (list.length === 0) return done('There is no git tag to deploy.');
  let tag: string;
  if (named !== undefined) {
    const match = list.find((t) => t === named || t === `v${named}` || `v${t}` === named);
    if (match === undefined) return done(`Nothing was deployed: there is no tag ${named} (the tags are ${list.join(', ')}).`);
    tag = match;
  } else {
    tag = [...list].sort(compareVersions).at(-1)!;
  }
  return { intent: `deploy_${service}`, args: { tag, environment } };
}

/**
 * What was done when a human said an interrupted rollback or deploy took effect: it is not run
 * again. Its service, environment and tag are its decision's, else what the request said.
 */
function tookEffectReport({ tool, args, said }: TookEffect, service: string, environment: string, named: string | undefined): string {
  const env = typeof args?.environment === 'string' ? args.environment : environment;
  const interrupted = `was interrupted before its outcome was recorded, and a human said it took effect${said}`;
  if (tool === 'rollback') return `Rolled back the ${typeof args?.service === 'string' ? args.service : service} on ${env}: the rollback ${interrupted}`;
  const tag = typeof args?.tag === 'string' ? args.tag : named;
  return `Deployed the ${tool.slice('deploy_'.length)}${tag === undefined ? '' : ` ${tag}`} to ${env}: the deploy ${interrupted}`;
}

/** Orders tags like v1.4.1 < v1.5.0 < v1.10.0; other tags sort as text, before versions. */
function compareVersions(a: string, b: string): number {
  const parts = (t: string): number[] | null => (/^v?\d+(\.\d+)*$/.test(t) ? t.replace(/^v/, '').split('.').map(Number) : null);
  const pa = parts(a);
  const pb = parts(b);
  if (pa === null || pb === null) return pa === null && pb === null ? a.localeCompare(b) : pa === null ? -1 : 1;
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
