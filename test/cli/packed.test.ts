/**
 * The package as a user gets it: `npm pack` once, the tarball installed (npm install, from the
 * registry for its dependencies) into a fresh project outside this repository, which is a copy of
 * examples/refunds. There, as a user would:
 * - a `switchyard.config.mjs` of one's own (an agent with two tools, one needing approval, its own
 *   context function and a judge; the scripted model of `switchyard/testing`) served by
 *   `npx switchyard serve`: a thread launched, approved and finished over HTTP;
 * - the same config served by `npx switchyard worker` on a real nats-server, driven by a stock
 *   NATS client: a JetStream trigger with a msg id, the approval over request/reply;
 * - the examples/ project itself: it typechecks against the published types, its own tests pass,
 *   and `npx switchyard serve` runs its TypeScript config;
 * - the README's TypeScript examples type-check there, and its createAgentActor example runs.
 */
import { builtinModules } from 'node:module';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collector, uniqueToken } from '../bus/waiting.js';
import { freePorts, startNatsServer } from '../support/natsServer.js';
import { ROOT, runCli, startCli, type CliOptions, type CliResult } from './cliProcess.js';
import { readmeBlock } from '../support/readmeBlock.js';

const NPX = ['npx', '--no-install', 'switchyard'];
const SETUP_TIMEOUT_MS = 240_000;

interface PackedFile {
  readonly path: string;
}

let tmp: string;
/** The user's project: a copy of examples/refunds with the tarball installed. */
let app: string;
/** Where the test's own `switchyard.config.mjs` lives (inside `app`, so it resolves its packages). */
let own: string;
let packed: readonly PackedFile[];

/** Runs a command in the user's project; fails the test with its output unless it exits 0. */
async function ok(command: readonly string[], args: readonly string[], options: Partial<CliOptions> = {}): Promise<CliResult> {
  const result = await runCli(args, { cwd: app, command, timeoutMs: SETUP_TIMEOUT_MS, ...options });
  expect(result.code, `${[...command, ...args].join(' ')}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
  return result;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'switchyard-packed-'));
  // `npm pack` runs `prepack` (the build), as `npm publish` would.
  const pack = await ok(['npm'], ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT });
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: PackedFile[] }[];
  packed = info!.files;
  app = join(tmp, 'app');
  await cp(join(ROOT, 'examples/refunds'), app, { recursive: true, filter: (source) => !/(node_modules|package-lock\.json|\.switchyard)$/.test(source) });
  // The project's dependencies from the registry, switchyard from the tarball (`file:../..` in the
  // repository; the Docker image's project stage runs the same command).
  await ok(['npm'], ['install', '--prefer-offline', '--no-audit', '--no-fund', join(tmp, basename(info!.filename))]);
  own = join(app, 'own');
  await mkdir(own);
  await cp(join(ROOT, 'test/cli/fixtures/switchyard.config.mjs'), join(own, 'switchyard.config.mjs'));
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the tarball', () => {
  it('holds the built entry points, their types and the runtime assets, and nothing else', () => {
    const paths = packed.map((f) => f.path);
    for (const entry of ['index', 'testing/index', 'server/index', 'nats/index', 'inspector/index', 'cli/main']) {
      expect(paths).toContain(`dist/src/${entry}.js`);
      expect(paths).toContain(`dist/src/${entry}.d.ts`);
    }
    expect(paths).toContain('dist/agents/calculator/prompt.md');
    expect(paths).toContain('README.md');
    expect(paths).toContain('LICENSE');
    const unexpected = paths.filter((p) => !/^(package\.json|README\.md|LICENSE|dist\/(src|machines|agents|tools)\/.+\.(js|d\.ts|md|html|css))$/.test(p));
    expect(unexpected).toEqual([]);
  });

  it('references no file it does not ship: no sourceMappingURL to a map left out of the tarball', async () => {
    // QA21: every .js ended in `//# sourceMappingURL=*.js.map` while `files` left the maps out
    // (webpack's source-map-loader and the like warn about each).
    const installed = join(app, 'node_modules/switchyard');
    const dangling: string[] = [];
    for (const { path } of packed.filter((f) => /\.(js|d\.ts)$/.test(f.path))) {
      const text = await readFile(join(installed, path), 'utf8');
      const map = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(text)?.[1];
      if (map !== undefined && !packed.some((f) => f.path === join(path, '..', map))) dangling.push(path);
    }
    expect(dangling).toEqual([]);
  });

  // In the wild: `npm install switchyard` warned "1 package has install scripts not yet covered by
  // allowScripts: switchyard (prepare: npm run build)"; a published package builds before it is
  // packed, never on a user's machine.
  it('runs no script of its own when installed (no preinstall, install, postinstall or prepare)', async () => {
    const manifest = JSON.parse(await readFile(join(app, 'node_modules/switchyard/package.json'), 'utf8')) as { scripts?: Record<string, string> };
    const onInstall = Object.keys(manifest.scripts ?? {}).filter((name) => ['preinstall', 'install', 'postinstall', 'prepare'].includes(name));
    expect(onInstall).toEqual([]);
  });

  it('imports only its declared dependencies and node built-ins', async () => {
    const installed = join(app, 'node_modules/switchyard');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; peerDependencies?: Record<string, string> };
    const declared = { ...manifest.dependencies, ...manifest.peerDependencies };
    const imported = new Set<string>();
    for (const file of await readdir(join(installed, 'dist'), { recursive: true })) {
      if (!file.endsWith('.js')) continue;
      // TypeScript's own scanner: imports and dynamic imports, not the examples in comments.
      const { importedFiles } = ts.preProcessFile(await readFile(join(installed, 'dist', file), 'utf8'), true, true);
      for (const { fileName: specifier } of importedFiles) {
        if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (!builtinModules.includes(name)) imported.add(name);
      }
    }
    expect([...imported].filter((name) => !(name in declared))).toEqual([]);
    expect(imported.has('zod')).toBe(true);
  });

  it("takes zod, whose schemas its API types take, as a peer dependency: the project's one copy, never a second one of its own", async () => {
    // With zod a dependency of its own, a project on an earlier zod 4 got a second copy nested
    // under switchyard, and its schemas no longer type-checked as switchyard's (two ZodType types).
    const manifest = JSON.parse(await readFile(join(app, 'node_modules/switchyard/package.json'), 'utf8')) as { dependencies: Record<string, string>; peerDependencies?: Record<string, string> };
    expect(manifest.dependencies.zod).toBeUndefined();
    expect(manifest.peerDependencies?.zod).toMatch(/^\^4\.\d+\.\d+$/);
    await expect(readdir(join(app, 'node_modules/switchyard/node_modules/zod'))).rejects.toThrow(/ENOENT/);
  });

  it("its types check in a strict project that checks every declaration file (skipLibCheck off, tsc's default)", async () => {
    const manifest = JSON.parse(await readFile(join(app, 'node_modules/switchyard/package.json'), 'utf8')) as { exports: Record<string, unknown> };
    // Every entry point with types (not `./package.json`).
    const entries = Object.entries(manifest.exports)
      .filter(([, target]) => typeof target === 'object' && target !== null && 'types' in target)
      .map(([key]) => `switchyard${key.slice(1)}`);
    expect(entries).toEqual(expect.arrayContaining(['switchyard', 'switchyard/server', 'switchyard/inspector', 'switchyard/nats', 'switchyard/testing']));
    const file = join(app, 'every-entry.ts');
    await writeFile(file, entries.map((entry, i) => `import * as entry${i} from '${entry}';\nexport type Entry${i} = typeof entry${i};\n`).join(''));
    expect(typeErrors(file, false)).toEqual([]);
  }, 120_000);
});

/** tsc's errors for `file` in a strict NodeNext project of the user's (paths relative to it). */
function typeErrors(file: string, skipLibCheck: boolean): string[] {
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName.slice(app.length + 1)}(${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}): ` : '';
    return `${where}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

describe("the README's walkthrough (Your own agent, served), as written", () => {
  it('serves the README config: a launch from the CLI is approved and finishes, then one over HTTP asks for approval too', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const project = join(app, 'readme-walkthrough');
    await mkdir(project);
    await writeFile(join(project, 'prompt.md'), readmeBlock(readme, '`prompt.md`, your prompt', 'md'));
    await writeFile(join(project, 'switchyard.config.ts'), readmeBlock(readme, '`switchyard.config.ts`, which', 'ts'));
    expect(typeErrors(join(project, 'switchyard.config.ts'), true)).toEqual([]);
    const [port] = await freePorts(1);
    const env = { SWITCHYARD_URL: `http://127.0.0.1:${port}` };
    const serve = startCli(['serve', '--port', String(port), '--dir', join(tmp, 'readme-data')], { cwd: project, command: NPX });
    try {
      await serve.waitFor(/press Ctrl\+C to stop/);
      const launched = await ok(NPX, ['launch', 'support', 'refund order A-1001, it arrived broken'], { cwd: project, env });
      expect(launched.stdout).toMatch(/needs approval: refund\(\{"orderId":"A-1001","amount":40\}\)/);
      // The command it printed, as the README runs it.
      const [, threadId, requestId] = /respond (\S+) --approve --request (\S+)/.exec(launched.stdout) ?? [];
      const approved = await ok(NPX, ['respond', threadId!, '--approve', '--request', requestId!], { cwd: project, env });
      expect(approved.stdout).toMatch(/✓ approved refund\(\{"orderId":"A-1001","amount":40\}\) \(req_\S+\) by /);
      expect(approved.stdout).toMatch(/done: Refunded \$40 on order A-1001\./);

      // Then "Or over HTTP", on the same server.
      const post = (path: string, body: unknown): Promise<Response> =>
        fetch(`${env.SWITCHYARD_URL}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const created = (await (await post('/threads', { agent: 'support', input: 'refund order A-1001' })).json()) as { id: string };
      const waiting = await waitFor(env.SWITCHYARD_URL, created.id);
      expect(waiting.status, JSON.stringify(waiting.events.at(-1))).toBe('awaiting_human');
      expect((await post(`/threads/${created.id}/respond`, { requestId: waiting.pendingRequest!.requestId, approved: true })).status).toBe(200);
      const done = await waitFor(env.SWITCHYARD_URL, created.id);
      expect(done.status).toBe('done');
    } finally {
      await serve.stop();
    }
  }, 120_000);

  it("its TypeScript examples type-check as written in the user's project: A first agent, and Public entry points' own server beside the config", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const project = join(app, 'readme-typescript');
    await mkdir(project);
    await writeFile(join(project, 'calc.ts'), readmeBlock(readme, '## A first agent', 'ts'));
    await writeFile(join(project, 'switchyard.config.ts'), readmeBlock(readme, '`switchyard.config.ts`, which', 'ts'));
    await writeFile(join(project, 'server.ts'), readmeBlock(readme, 'Serving your own runtime, as `switchyard', 'ts'));
    expect(typeErrors(join(project, 'calc.ts'), true)).toEqual([]);
    expect(typeErrors(join(project, 'server.ts'), true)).toEqual([]);
  }, 120_000);

  it('its createAgentActor example (Test your agents) type-checks and runs as written, resting where its comments say', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const project = join(app, 'readme-actor');
    await mkdir(project);
    const file = join(project, 'actor.ts');
    const block = readmeBlock(readme, 'Answer a request with a `RESPOND` event', 'ts');
    await writeFile(file, `${block}console.log(JSON.stringify([asking.state, asking.status, request.kind, request.tool, end.state, end.status]));\n`);
    expect(typeErrors(file, true)).toEqual([]);
    const run = await ok(['npx', '--no-install', 'tsx'], [file], { cwd: project });
    expect(JSON.parse(run.stdout.trim())).toEqual(['awaitingHuman', 'awaiting_human', 'approval', 'refund', 'done', 'done']);
  }, 120_000);
});

describe('a config of your own, from the installed package', () => {
  it('npx switchyard serve: launched, approved and finished over HTTP', async () => {
    const [port] = await freePorts(1);
    const serve = startCli(['serve', '--port', String(port), '--dir', join(tmp, 'http-data')], { cwd: own, command: NPX });
    try {
      const [, url] = await serve.waitFor(/switchyard listening on (http:\/\/127\.0\.0\.1:\d+)/);
      expect(url).toBe(`http://127.0.0.1:${port}`);
      await serve.waitFor(/press Ctrl\+C to stop/);
      expect(serve.stdout()).toContain(`project: ${join(own, 'switchyard.config.mjs')} (support, other)`);
      expect(serve.stdout()).toContain('model: scripted (from the config)');

      const post = (path: string, body: unknown): Promise<Response> =>
        fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const launched = (await (await post('/threads', { agent: 'support', input: 'refund order o-1' })).json()) as { id: string };
      const waiting = await waitFor(url!, launched.id);
      expect(waiting).toMatchObject({ status: 'awaiting_human', pendingRequest: { kind: 'approval', tool: 'refund', args: { order: 'o-1', amount: 40 } } });
      // The judge rejected the first refund (above the total) and accepted the second.
      const verdicts = waiting.events.flatMap((e) => (e.type === 'custom' && e.data.step === 'not_above_total' ? [e.data.verdict] : []));
      expect(verdicts).toEqual(['accept', 'reject', 'accept']);

      const responded = await post(`/threads/${launched.id}/respond`, { requestId: waiting.pendingRequest!.requestId, approved: true, by: 'test' });
      expect(responded.status).toBe(200);
      const done = await waitFor(url!, launched.id);
      // 'refund done' only when the model read the agent's own context (see the fixture's model).
      expect(done).toMatchObject({ status: 'done', output: 'refund done' });
      expect(done.events.some((e) => e.type === 'tool_result' && e.data.tool === 'refund' && e.data.result === 'refunded 40 on o-1')).toBe(true);
    } finally {
      await serve.stop();
    }
    expect(serve.stderr()).not.toMatch(/error/i);
  }, 120_000);

  it('npx switchyard worker on NATS: a stock client triggers it and approves over NATS', async () => {
    const nats = await startNatsServer();
    const prefix = `sy${uniqueToken()}`;
    const worker = startCli(['worker', '--nats-url', nats.url, '--prefix', prefix, '--agents', 'support'], { cwd: own, command: NPX });
    let nc: NatsConnection | undefined;
    try {
      await worker.waitFor(/taking jobs for: support\n/);
      nc = await connect({ servers: nats.url });
      const replyTo = `${prefix}-client.results`;
      const results = collector<{ threadId: string; status: string; output?: unknown; pendingRequest?: { requestId: string; tool?: string } }>();
      nc.subscribe(replyTo, { callback: (error, msg) => void (error ? undefined : results.push(msg.json())) });
      await jetstream(nc).publish(`${prefix}.trigger.support`, JSON.stringify({ input: 'refund order o-1', replyTo }), { msgID: 'packed-1' });

      const [asked] = await results.until(1, 30_000, 'the thread to ask for approval');
      expect(asked).toMatchObject({ threadId: 'trg-packed-1', status: 'awaiting_human', pendingRequest: { tool: 'refund' } });
      const answer = { requestId: asked!.pendingRequest!.requestId, approved: true, by: 'test' };
      const reply = (await nc.request(`${prefix}.thread.trg-packed-1.respond`, JSON.stringify(answer), { timeout: 15_000 })).json<{ ok: boolean }>();
      expect(reply.ok).toBe(true);
      // Results are published each time the thread rests, at least once: wait for the final one.
      const deadline = Date.now() + 30_000;
      let finished = results.items.find((r) => r.status === 'done');
      for (let n = results.items.length + 1; finished === undefined; n++) {
        finished = (await results.until(n, Math.max(1, deadline - Date.now()), 'the thread to finish')).find((r) => r.status === 'done');
      }
      expect(finished).toMatchObject({ threadId: 'trg-packed-1', status: 'done', output: 'refund done' });
    } finally {
      await nc?.close();
      await worker.stop();
      await nats.stop();
    }
  }, 120_000);
});

describe('the examples/ project, installed from the tarball', () => {
  it('typechecks against the published types and passes its own tests', async () => {
    await ok(['npm'], ['run', 'typecheck']);
    const test = await ok(['npm'], ['test']);
    expect(test.stdout).toMatch(/# pass 4\n# fail 0/);
  }, 120_000);

  it('npx switchyard serve runs its TypeScript config: the judge holds the refund to the total, then it asks', async () => {
    const serve = startCli(['serve', '--port', '0', '--dir', join(tmp, 'example-data'), '--demo'], { cwd: app, command: NPX });
    try {
      await serve.waitFor(/press Ctrl\+C to stop/);
      const out = serve.stdout();
      expect(out).toContain(`project: ${join(app, 'switchyard.config.ts')} (refunds)`);
      expect(out).toMatch(/within_total: reject: 60 is more than the order total \(40\)/);
      expect(out).toMatch(/needs approval: refund\(\{"orderId":"A-1001","amount":40/);
      expect(out).toContain('approve the refund call and watch it finish:');
    } finally {
      await serve.stop();
    }
  }, 120_000);
});

interface View {
  readonly status: string;
  readonly output?: unknown;
  readonly pendingRequest: { readonly requestId: string } | null;
  readonly events: readonly { readonly type: string; readonly data: Record<string, unknown> }[];
}

/** The thread once it stops moving (`GET /threads/:id/wait`, bounded by the server). */
async function waitFor(url: string, id: string): Promise<View> {
  const response = await fetch(`${url}/threads/${id}/wait?timeoutMs=20000`);
  expect(response.status).toBe(200);
  return (await response.json()) as View;
}
