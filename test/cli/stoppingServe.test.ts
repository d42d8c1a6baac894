/**
 * `switchyard serve` told to stop while a tool call runs: until the call has finished (its drain),
 * it keeps listening, answering reads, refusing work with 503 and `Retry-After`, and `/ready` with
 * 503, as the README says; the port closes once the runtime has drained.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './cliProcess.js';
import { runInProcess } from './runInProcess.js';

let dir: string;
beforeAll(async () => {
  // Inside node_modules/ so the config's `import 'zod'` resolves as in a user's project.
  dir = await mkdtemp(join(ROOT, 'node_modules', '.switchyard-cli-stopping-'));
  const started = JSON.stringify(join(dir, 'started'));
  const release = JSON.stringify(join(dir, 'release'));
  // charge runs until the test creates the release file (it says it started with a file).
  await writeFile(
    join(dir, 'switchyard.config.mts'),
    `
import { existsSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { agent, defineConfig, tool } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};
import { scriptedModel } from ${JSON.stringify(join(ROOT, 'src/testing/index.ts'))};

const charge = tool({
  name: 'charge',
  description: 'Charges a card',
  input: z.object({ amount: z.number() }),
  timeoutMs: 120_000,
  run: async ({ amount }) => {
    writeFileSync(${started}, '');
    while (!existsSync(${release})) await new Promise((resolve) => setTimeout(resolve, 20));
    return 'charged ' + amount;
  },
});
const charger = agent({ name: 'charger', description: 'Charges cards', prompt: 'You charge. Tools:\\n{{tools}}', tools: [charge] });
const model = scriptedModel([], {
  whenExhausted: ({ context }) =>
    context.includes('<tool_result tool="charge"') ? { intent: 'done_for_now', args: { message: 'charged it' } } : { intent: 'charge', args: { amount: 5 } },
});
export default defineConfig({ agents: [charger], model });
`,
  );
});
afterAll(async () => {
  await writeFile(join(dir, 'release'), '').catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

/** The status of `GET url`, or `refused` when nothing listens. */
const statusOf = (url: string): Promise<number | 'refused'> => fetch(url).then((r) => r.status, () => 'refused' as const);

describe('serve told to stop while a tool call runs', () => {
  // QA (qa25-ops D3): serve closed its port the moment it was told to stop, so for the whole drain
  // every new connection was refused.
  it('keeps listening until the call finished: reads answered, work and /ready 503 with Retry-After; then the port closes', { timeout: 120_000 }, async () => {
    const run = await runInProcess(['serve', '--port', '0', '--dir', join(dir, 'data')], {}, dir);
    if ('ended' in run) throw new Error(`serve exited with ${run.ended.code}: ${run.ended.stderr}`);
    const serve = run.started;
    const url = /switchyard listening on (http:\/\/\S+)/.exec(serve.stdout())![1]!;
    let stopped: Promise<number> | undefined;
    try {
      const launched = await fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'charger', input: 'charge 5' }) });
      const { id } = (await launched.json()) as { id: string };
      await expect.poll(() => existsSync(join(dir, 'started')), { timeout: 30_000 }).toBe(true);

      stopped = serve.stop();
      // Stopping: not ready any more, but still there.
      await expect.poll(() => statusOf(`${url}/ready`), { timeout: 10_000 }).not.toBe(200);
      expect(await statusOf(`${url}/ready`)).toBe(503);
      expect(await statusOf(`${url}/health`)).toBe(200);
      const read = await fetch(`${url}/threads/${id}`);
      expect(read.status).toBe(200);
      expect(await read.json()).toMatchObject({ id, status: 'running' });
      const work = await fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'charger', input: 'charge 6' }) });
      expect(work.status).toBe(503);
      expect(work.headers.get('retry-after')).toBe('10');
      expect(await work.json()).toMatchObject({ error: 'the server is shutting down' });
    } finally {
      await writeFile(join(dir, 'release'), '');
      expect(await (stopped ?? serve.stop())).toBe(0);
    }
    expect(await statusOf(`${url}/health`)).toBe('refused');
  });
});
