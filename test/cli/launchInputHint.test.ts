/**
 * `switchyard launch <agent> <words...>` sends the words as one string. When the agent (or
 * pipeline) takes an object and the server refuses the string, the error says to give the input
 * as JSON with `--input-json`, with the shape its input schema asks for; the server's issues stay.
 * A string the agent refuses for another reason (too long) gets no such hint. The CLI runs in this
 * process against a real HTTP server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agent } from '../../src/agent/agent.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { runCliHere, type CliRun } from '../support/inProcessCli.js';
import { call, decide } from '../server/harness.js';

const billing = agent({ name: 'billing', description: 'bills', prompt: 'p', tools: [], input: z.object({ amount: z.number(), note: z.string().optional() }) });
const short = agent({ name: 'short', description: 'takes a short note', prompt: 'p', tools: [], input: z.string().max(5) });
const linear = pipeline({ name: 'linear', description: 'counts words', input: z.object({ doc: z.string() }), output: z.number() })
  .code({ name: 'count', output: z.number(), run: ({ input }) => input.doc.split(' ').length })
  .finish(({ results }) => results.count);

let runtime: Runtime;
let server: HttpServer;

beforeAll(async () => {
  runtime = createRuntime({ agents: [billing, short], pipelines: [linear], store: createMemoryStore(), model: scriptedModel([], { whenExhausted: decide }) });
  server = await startHttpServer(runtime, { port: 0, token: '' });
});

afterAll(async () => {
  await server?.close();
  await runtime?.close();
});

function cli(...args: string[]): Promise<CliRun> {
  return runCliHere([...args, '--url', server.url]);
}

describe('a launch with words of an agent or pipeline whose input is an object', () => {
  it('points to --input-json with the shape its input takes, keeping the issues (a pipeline)', async () => {
    const launched = await cli('launch', 'linear', 'hello', 'big', 'world');
    expect(launched.code).toBe(1);
    expect(launched.stderr).toBe(
      [
        `error: invalid input for pipeline linear (its input is a JSON object, not words: give it with --input-json, e.g. --input-json '{"doc":"..."}')`,
        '  - (root): Invalid input: expected object, received string',
        '',
      ].join('\n'),
    );
  });

  it('does so with --json too: the server body, its error carrying the hint (an agent)', async () => {
    const launched = await cli('launch', 'billing', 'five', 'dollars', '--json');
    expect(launched.code).toBe(1);
    const refused = await call(server.url, 'POST', '/threads', { agent: 'billing', input: 'five dollars' });
    expect(refused.status).toBe(400);
    expect(JSON.parse(launched.stderr)).toEqual({
      ...refused.body,
      error: `${String(refused.body.error)} (its input is a JSON object, not words: give it with --input-json, e.g. --input-json '{"amount":0}')`,
    });
  });

  it('gives no such hint for text the agent refuses for another reason', async () => {
    const launched = await cli('launch', 'short', 'far', 'too', 'long');
    expect(launched.code).toBe(1);
    expect(launched.stderr).toContain('error: invalid input for agent short');
    expect(launched.stderr).not.toContain('--input-json');
  });
});
