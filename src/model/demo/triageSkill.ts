import type { ContextBlock } from '../../context/parseContext.js';
import { clip, done, inputText, parseJson, tookEffect, type DemoSkill, type Step } from './blocks.js';

type Block = ContextBlock;

/** Searches known issues with the report's words, then files a verdict from the best match. */
export const triageSkill: DemoSkill = {
  name: 'triage',
  tools: ['search_known_issues', 'file_triage'],
  decide: decideTriage,
};

const SEVERE = /\b(500|crash|down|outage|cannot|can't|unable|data loss|security)\b/i;

function decideTriage(blocks: readonly Block[]): Step {
  const report = inputText(blocks);
  const effected = tookEffect(blocks);
  if (effected?.tool === 'file_triage') return done(`The triage was filed: the file_triage call was interrupted before its outcome was recorded, and a human said it took effect${effected.said}`);
  const search = blocks.find((b) => b.tag === 'tool_result' && b.attrs.tool === 'search_known_issues');
  if (search === undefined) {
    const words = report.toLowerCase().match(/[a-z0-9]+/g) ?? [];
    return { intent: 'search_known_issues', args: { query: words.slice(0, 40).join(' ') || 'bug' } };
  }
  const matches = parseJson(search.body);
  const best = Array.isArray(matches) ? (matches[0] as { id?: string; component?: string; fixTag?: string | null } | undefined) : undefined;
  const component = best?.component === 'frontend' || /\b(button|page|layout|css|screen|ui)\b/i.test(report) ? 'frontend' : 'backend';
  return {
    intent: 'file_triage',
    args: {
      component,
      severity: SEVERE.test(report) ? 'high' : /cosmetic|typo|blurry/i.test(report) ? 'low' : 'medium',
      summary: clip(report, 100) || 'bug report',
      ...(best?.id ? { knownIssue: best.id } : {}),
      ...(best?.fixTag ? { fixTag: best.fixTag } : {}),
    },
  };
}
