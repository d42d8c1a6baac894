/**
 * A pipeline's input schema is checked as an agent's is: a launch sends JSON, so a type JSON Schema
 * cannot express (z.date(), z.map(), z.bigint()...) is refused at definition, naming the field; a
 * coerced one (z.coerce.date()), which takes the JSON string a launch sends, is allowed, as for agents.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { agentStep, pipeline } from '../../src/pipeline/pipeline.js';
import { refusal } from '../support/refusal.js';

const unrepresentable = z.object({ due: z.date(), counts: z.map(z.string(), z.number()), amount: z.bigint() });
const step = agentStep({ name: 'ask', agent: 'helper', input: () => 'go' });

describe('a pipeline input schema with types JSON Schema cannot express', () => {
  it('is refused by pipeline({ steps }), naming each field and what to use instead', () => {
    const message = refusal(() => pipeline({ name: 'billing', description: '', input: unrepresentable, output: z.unknown(), steps: [step], finish: () => null }));
    expect(message).toMatch(/^pipeline billing: its input has types JSON Schema cannot express/);
    expect(message).toContain('due: z.date() has no JSON Schema; use z.iso.datetime()');
    expect(message).toContain('counts: z.map() has no JSON Schema');
    expect(message).toContain('amount: z.bigint() has no JSON Schema');
  });

  it('is refused by the typed builder', () => {
    const message = refusal(() =>
      pipeline({ name: 'billing', description: '', input: z.object({ when: z.date() }), output: z.unknown() })
        .agent({ name: 'ask', agent: 'helper', input: () => 'go' })
        .finish(() => null),
    );
    expect(message).toMatch(/^pipeline billing: its input has types JSON Schema cannot express.*when: z\.date\(\)/);
  });

  it('is allowed when coerced (z.coerce.date()), as an agent input is', () => {
    const input = z.object({ due: z.coerce.date() });
    expect(refusal(() => agent({ name: 'helper', description: '', prompt: 'x', tools: [], input }))).toBe('built');
    expect(refusal(() => pipeline({ name: 'billing', description: '', input, output: z.unknown(), steps: [step], finish: () => null }))).toBe('built');
  });
});
