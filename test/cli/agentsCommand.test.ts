/**
 * `switchyard agents` (qa26-scale D8): what the server launches, one line each, for a team with 40
 * agents who otherwise read `GET /agents` (33 KB of JSON) with curl; `--json` prints that array.
 */
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agent/agent.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { pipeline } from '../../src/pipeline/pipeline.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import { runCliHere } from '../support/inProcessCli.js';

const alpha = agent({ name: 'alpha', description: 'first one', prompt: 'p', tools: [] });
const beta = agent({ name: 'beta', description: 'takes an order', prompt: 'p', tools: [], input: z.object({ orderId: z.string(), note: z.string().optional() }) });
const flow = pipeline({ name: 'flow', description: 'runs alpha', input: z.object({ id: z.string() }), output: z.string() })
  .agent({ name: 'first', agent: 'alpha', input: ({ input }) => input.id })
  .finish(() => 'ok');

let runtime: Runtime;
let server: HttpServer;

afterEach(async () => {
  await server.close();
  await runtime.close();
});

async function serve(workerServes?: (name: string) => boolean): Promise<string> {
  runtime = createRuntime({ agents: [alpha, beta], pipelines: [flow], store: createMemoryStore(), model: scriptedModel([]) });
  server = await startHttpServer(runtime, { port: 0, ...(workerServes === undefined ? {} : { workerServes }) });
  return server.url;
}

describe('switchyard agents', () => {
  it('lists each agent and pipeline with its kind, input and description', async () => {
    const url = await serve();
    expect(await runCliHere(['agents', '--url', url])).toEqual({
      code: 0,
      stdout: ['NAME   KIND      INPUT             DESCRIPTION', 'alpha  agent     any               first one', 'beta   agent     {orderId, note?}  takes an order', 'flow   pipeline  {id}              runs alpha', ''].join('\n'),
      stderr: '',
    });
  });

  it('says which a worker serves on a server that runs none itself, and --json prints GET /agents', async () => {
    const url = await serve((name) => name !== 'beta');
    const { stdout } = await runCliHere(['agents', '--url', url]);
    expect(stdout.split('\n').slice(0, 3)).toEqual(['NAME   KIND      INPUT             SERVED  DESCRIPTION', 'alpha  agent     any               yes     first one', 'beta   agent     {orderId, note?}  no      takes an order']);
    const json = await runCliHere(['agents', '--url', url, '--json']);
    expect(JSON.parse(json.stdout)).toEqual(await (await fetch(`${url}/agents`)).json());
  });
});
