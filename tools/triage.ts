import { z } from 'zod';
import { tool, type Tool } from '../src/agent/tool.js';

/** A known issue the triage agent can match a report against. */
export interface KnownIssue {
  readonly id: string;
  readonly title: string;
  readonly keywords: readonly string[];
  readonly component: 'backend' | 'frontend';
  /** The release tag that fixes it, if one exists. */
  readonly fixTag?: string;
}

/** The demo catalog of known issues. */
export const KNOWN_ISSUES: readonly KnownIssue[] = [
  { id: 'BUG-101', title: 'Login returns HTTP 500 when the session cookie expired', keywords: ['login', '500', 'session', 'cookie'], component: 'backend', fixTag: 'v1.5.0' },
  { id: 'BUG-102', title: 'Checkout button misaligned on small screens', keywords: ['checkout', 'button', 'mobile', 'layout'], component: 'frontend', fixTag: 'v1.4.1' },
  { id: 'BUG-103', title: 'Report export times out for large accounts', keywords: ['export', 'timeout', 'report', 'csv'], component: 'backend' },
];

/** The triage verdict: what the bug is, how bad, and the tag that fixes it if one exists. */
export const triageSchema = z.object({
  component: z.enum(['backend', 'frontend']),
  severity: z.enum(['low', 'medium', 'high']),
  summary: z.string().min(1),
  knownIssue: z.string().optional().describe('The id of the matching known issue'),
  fixTag: z.string().optional().describe('A release tag that fixes it'),
});
export type Triage = z.infer<typeof triageSchema>;

/** The triage agent's tools over a catalog of known issues. */
export function triageTools(catalog: readonly KnownIssue[] = KNOWN_ISSUES): Tool[] {
  return [
    tool({
      name: 'search_known_issues',
      description: 'Search known issues by words from the report; returns matches with the tag that fixes them',
      input: z.object({ query: z.string().min(1) }),
      idempotent: true,
      run: ({ query }) => {
        const words = query.toLowerCase().split(/\W+/).filter(Boolean);
        return catalog
          .map((issue) => ({ issue, score: issue.keywords.filter((k) => words.includes(k)).length }))
          .filter((m) => m.score > 0)
          .sort((a, b) => b.score - a.score)
          .map(({ issue }) => ({ id: issue.id, title: issue.title, component: issue.component, fixTag: issue.fixTag ?? null }));
      },
    }),
    tool({
      name: 'file_triage',
      description: 'Record the triage verdict; this ends the triage',
      input: triageSchema,
      idempotent: true,
      breaksLoop: true,
      run: (verdict) => verdict,
    }),
  ];
}
