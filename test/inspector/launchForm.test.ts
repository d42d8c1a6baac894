/**
 * The launch form asks for a pipeline's (or an agent's) input by its schema (QA27 inspect D8): the
 * box's example names the input's own keys, which the server lists (`GET /agents`, `inputSchema`),
 * not a generic `{"topic": "…"}`; an agent that takes any input still asks for text.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calculator } from '../../agents/calculator/index.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { startInspectorServer } from './inspectorFixture.js';
import { browserForTests } from './inspectorPage.js';

const { cleanups, open } = browserForTests();

const reimburse = () =>
  pipeline({
    name: 'reimburse',
    description: 'pays an expense',
    input: z.object({ who: z.string(), amount: z.number(), urgent: z.boolean().optional(), tags: z.array(z.string()) }),
    output: z.unknown(),
  })
    .agent({ name: 'pay', agent: 'calculator', input: () => 'add 2 and 3' })
    .finish(({ results }) => results.pay);

describe('the launch form', () => {
  it('gives an example of a pipeline’s input with its own keys, and asks an agent for text', async () => {
    const server = await startInspectorServer({ agents: [calculator], pipelines: [reimburse()] });
    cleanups.push(() => server.close());
    const { page, errors } = await open(server);
    await page.locator('#launch:not([hidden])').waitFor();
    const placeholder = () => page.locator('#launch-input').getAttribute('placeholder');
    await page.selectOption('#launch-agent', 'calculator');
    expect(await placeholder()).toBe('input…');
    await page.selectOption('#launch-agent', 'reimburse');
    expect(await placeholder()).toBe('JSON input, e.g. {"who": "…", "amount": 0, "urgent": false, "tags": []}');
    expect(await page.locator('#launch-input').getAttribute('title')).toBe('the pipeline’s input, as JSON: who, amount, tags required');
    // The example's shape is what the pipeline takes.
    await page.fill('#launch-input', '{"who": "ann", "amount": 12, "tags": []}');
    await page.click('#launch-send');
    await expect.poll(() => page.locator('#thread-agent').textContent()).toBe('pipeline reimburse');
    expect(await page.locator('#launch-error').isVisible()).toBe(false);
    expect(errors).toEqual([]);
  });
});
