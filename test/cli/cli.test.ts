/**
 * The CLI as a user drives it: `switchyard serve` in a child process over a temporary data
 * directory, and the client commands as separate processes against it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver } from '../server/receiver.js';
import { CLI_TIMEOUT_MS, ROOT, cliTestTimeout, runCli, startCli, type CliProcess, type CliResult } from './cliProcess.js';

const COMMAND_TIMEOUT_MS = CLI_TIMEOUT_MS;

/** Runs one CLI command to its end. */
const run = (args: readonly string[]): Promise<CliResult> => runCli(args, { cwd: ROOT, timeoutMs: COMMAND_TIMEOUT_MS });

/** A running `switchyard serve` and everything it printed so far. */
interface Server extends CliProcess {
  readonly url: string;
}

async function startServe(dir: string, extra: readonly string[] = [], env: Record<string, string> = {}): Promise<Server> {
  const serve = startCli(['serve', '--port', '0', '--dir', dir, ...extra], { cwd: ROOT, env, timeoutMs: COMMAND_TIMEOUT_MS });
  const url = (await serve.waitFor(/switchyard listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
  // The last line of the start-up (after the demo thread, when there is one).
  await serve.waitFor(/press Ctrl\+C to stop/);
  return { ...serve, url };
}

let dir: string;
let server: Server | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
  server = await startServe(dir);
}, cliTestTimeout(1));

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A client command against the running server. */
const cli = (...args: string[]): Promise<CliResult> => run([...args, '--url', server!.url]);

describe('switchyard CLI', () => {
  let demoId: string;
  let threadId: string;

  it('serve runs the demo: a calculator thread stopped at the division approval, and the command to approve it', async () => {
    const match = await server!.waitFor(/approve the divide call and watch it finish:\n\s+\S+ respond (th_[\w-]+) --approve/);
    demoId = match[1]!;
    const out = server!.stdout();
    // The command names the request it answers (QA21 durability D2: a hint not bound to its request
    // answered whatever was pending when it ran).
    expect(out).toMatch(new RegExp(`watch it finish:\\n\\s+\\S+ respond ${demoId} --approve --request req_\\w+ --url `));
    expect(out).toContain('no model key is configured');
    expect(out).toContain('✓ decided add {"a":3,"b":4}');
    expect(out).toContain('→ add = 7');
    expect(out).toContain(`thread ${demoId} is awaiting_human`);
  });

  it('serve serves the inspector at the URL it prints', async () => {
    const printed = /inspector: (http:\S+)/.exec(server!.stdout())?.[1];
    expect(printed).toBe(`${server!.url}/inspector`);
    const page = await fetch(printed!);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const actors = await fetch(`${server!.url}/inspector/api/threads`);
    expect(actors.status).toBe(200);
  });

  it('launch follows the thread and stops at the approval it needs', async () => {
    const result = await cli('launch', 'calculator', 'what is (3 + 4) / 2');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    threadId = /^launched (th_[\w-]+) \(calculator\)$/m.exec(result.stdout)?.[1] ?? '';
    expect(threadId).not.toBe('');
    const lines = result.stdout.split('\n').map((l) => l.trim());
    expect(lines).toContain('✓ decided add {"a":3,"b":4}');
    expect(lines).toContain('→ add = 7');
    expect(lines).toContain('✓ decided divide {"a":7,"b":2}');
    expect(result.stdout).toMatch(new RegExp(`\\? needs approval: divide\\(\\{"a":7,"b":2\\}\\)  reply: switchyard respond ${threadId} --approve`));
    expect(lines.at(-2)).toBe(`thread ${threadId} is awaiting_human`);
  });

  it('threads lists both threads as awaiting_human, with what each asks', async () => {
    const result = await cli('threads');
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+AGENT\s+STATUS\s+EVENTS\s+UPDATED\s+PENDING$/);
    expect(rows).toHaveLength(2);
    for (const id of [threadId, demoId]) {
      expect(rows.find((row) => row.startsWith(id))).toMatch(/calculator\s+awaiting_human\s+\d+\s+\S+ ago\s+\w+: \S/);
    }
    expect(rows.find((row) => row.startsWith(threadId))).toMatch(/ ago\s+approval: divide \{"a":7,"b":2\}$/);
  });

  it('show prints the status, the pending request with its id, and the timeline', async () => {
    const result = await cli('show', threadId);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^status\s+awaiting_human$/m);
    expect(result.stdout).toMatch(/^pending\s+approval request req_\w+$/m);
    expect(result.stdout).toContain('Approve divide({"a":7,"b":2})?');
    expect(result.stdout).toMatch(/timeline\n\s+1\s+\d\d:\d\d:\d\d\s+• input: what is \(3 \+ 4\) \/ 2/);
  });

  it('respond --approve lets the thread finish and shows its progress', async () => {
    const result = await cli('respond', threadId, '--approve', '--by', 'tester');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => l.trim());
    expect(lines).toEqual([expect.stringMatching(/^✓ approved divide\(\{"a":7,"b":2\}\) \(req_\w+\) by tester$/), '→ divide = 3.5', '✔ done: (3 + 4) / 2 = 3.5', `thread ${threadId} is done`]);
  });

  it('--json prints only JSON', async () => {
    const shown = await cli('show', threadId, '--json');
    expect(shown.code).toBe(0);
    const view = JSON.parse(shown.stdout) as { id: string; status: string; output: string; events: unknown[] };
    expect(view).toMatchObject({ id: threadId, status: 'done', output: '(3 + 4) / 2 = 3.5' });

    const listed = await cli('--json', 'threads', '--status', 'awaiting_human');
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { threads: { id: string }[] }).threads.map((t) => t.id)).toEqual([demoId]);
  });

  it('threads --after pages through every thread, printing where the next page starts', async () => {
    const seen: string[] = [];
    let after = '';
    for (let page = 0; page < 50; page++) {
      const listed = await cli('--json', 'threads', '--limit', '1', '--after', after);
      expect(listed.code).toBe(0);
      const body = JSON.parse(listed.stdout) as { threads: { id: string }[]; next?: string };
      seen.push(...body.threads.map((t) => t.id));
      if (body.next === undefined) break;
      after = body.next;
    }
    expect(seen).toEqual(expect.arrayContaining([demoId, threadId]));
    expect(new Set(seen).size).toBe(seen.length);
    const first = await cli('threads', '--limit', '1', '--after', '');
    expect(first.stdout).toMatch(/next page: --after '?[\w:=-]+'?/);
  });

  it('launch --no-follow prints the id; cancel ends the thread', async () => {
    const launched = await cli('launch', 'deploybot', 'deploy the latest backend', '--no-follow');
    expect(launched.code).toBe(0);
    const id = launched.stdout.trim();
    expect(id).toMatch(/^th_[\w-]+$/);
    const cancelled = await cli('cancel', id, '--reason', 'changed my mind');
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout.trim()).toBe(`thread ${id} is cancelled`);
  });

  it('watch prints a waiting thread so far, follows it through an approval given elsewhere, and exits 0 when it is done', async () => {
    const launched = await cli('launch', 'calculator', 'what is (3 + 4) / 2');
    expect(launched.code).toBe(0);
    const id = /^launched (th_[\w-]+)/m.exec(launched.stdout)?.[1] ?? '';
    expect(launched.stdout).toContain(`thread ${id} is awaiting_human`);

    const watch = startCli(['watch', id, '--url', server!.url], { cwd: ROOT, timeoutMs: COMMAND_TIMEOUT_MS });
    // What happened before the watch: printed as launch printed it, up to the approval it waits for.
    await watch.waitFor(/\? needs approval: divide\(\{"a":7,"b":2\}\)  reply: switchyard respond \S+ --approve/);
    const approved = await cli('respond', id, '--approve', '--by', 'tester');
    expect(approved.code).toBe(0);
    expect(await watch.exited()).toBe(0);
    expect(watch.stderr()).toBe('');
    const lines = watch.stdout().trim().split('\n').map((l) => l.trim());
    expect(lines[0]).toBe(`watching ${id} (calculator)`);
    expect(lines.slice(1, 5)).toEqual(['• input: what is (3 + 4) / 2', '✓ decided add {"a":3,"b":4}', '→ add = 7', '✓ decided divide {"a":7,"b":2}']);
    expect(lines.slice(-4)).toEqual([expect.stringMatching(/^✓ approved divide\(\{"a":7,"b":2\}\) \(req_\w+\) by tester$/), '→ divide = 3.5', '✔ done: (3 + 4) / 2 = 3.5', `thread ${id} is done`]);

    // A thread that has ended: its events, and watch returns at once.
    const ended = await cli('watch', id, '--json');
    expect(ended.code).toBe(0);
    expect(JSON.parse(ended.stdout)).toMatchObject({ id, status: 'done', output: '(3 + 4) / 2 = 3.5' });
    // Its request was answered before this watch began: shown as past, with no reply offered.
    const replayed = await cli('watch', id);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain('? asked for approval: divide({"a":7,"b":2})');
    expect(replayed.stdout).not.toContain('reply:');
  });

  it('launch --thread-id of an existing thread says it was not launched again, and shows that thread; with another input it exits 1', async () => {
    const other = await cli('launch', 'calculator', 'what is 1 + 1', '--thread-id', threadId);
    expect(other.code).toBe(1);
    expect(other.stderr.trim()).toMatch(new RegExp(`^error: thread ${threadId} already exists and was launched with another input; a relaunch does not change it`));
    const result = await cli('launch', 'calculator', 'what is (3 + 4) / 2', '--thread-id', threadId);
    expect(result.code).toBe(0);
    expect(result.stderr.trim()).toBe(`thread ${threadId} already exists; not launched again`);
    expect(result.stdout).not.toMatch(/launched/);
    expect(result.stdout).toContain('• input: what is (3 + 4) / 2');
    expect(result.stdout.trim().split('\n').at(-1)).toBe(`thread ${threadId} is done`);
  });

  it('an unknown thread exits 1 with the server message, for show and watch alike', async () => {
    for (const command of ['show', 'watch']) {
      const result = await cli(command, 'th_nope');
      expect(result.code, command).toBe(1);
      expect(result.stdout, command).toBe('');
      expect(result.stderr.trim(), command).toBe('error: thread not found: th_nope');
    }
  });

  it('launch of an unknown agent exits 1 naming the agents and pipelines the server knows', async () => {
    const result = await cli('launch', 'nobody', 'hi');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toBe('error: unknown agent "nobody" (known: calculator, deploybot, triage, bugfix)');
  });

  it('usage errors exit 2: a missing argument, conflicting flags', async () => {
    const missing = await cli('launch');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'agent'");
    const conflicting = await cli('respond', demoId, '--approve', '--deny');
    expect(conflicting.code).toBe(2);
    expect(conflicting.stderr).toMatch(/--deny.*cannot be used with.*--approve|--approve.*cannot be used with.*--deny/);
  });

  it('launch of a pipeline follows its children and stops at the child that needs a human', async () => {
    const launched = await cli('launch', 'bugfix', '--input-json', '{"report":"users get a 500 on login after their session expired"}');
    expect(launched.code).toBe(0);
    expect(launched.stdout).toMatch(/↳ delegated to triage: thread (\S+)/);
    const child = /↳ delegated to deploybot: thread (\S+)/.exec(launched.stdout)?.[1];
    expect(child).toBeDefined();
    expect(launched.stdout).toMatch(/needs approval: deploy_backend/);
    expect(launched.stdout).toContain(`↳ waiting on deploybot thread ${child}, which is awaiting_human`);
    const parent = /thread (th_\S+) is running/.exec(launched.stdout)?.[1];
    expect(parent).toBeDefined();

    // show of the waiting pipeline says, as launch did, which child it handed its steps to and which it waits on.
    const shown = await cli('show', parent!);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^ +\d+ +\S+ +↳ delegated to triage: thread \S+$/m);
    expect(shown.stdout).toMatch(new RegExp(`^ +\\d+ +\\S+ +↳ delegated to deploybot: thread ${child}$`, 'm'));
    expect(shown.stdout).toContain(`↳ waiting on deploybot thread ${child}, which is awaiting_human`);
    expect(shown.stdout).toContain(`reply: switchyard respond ${child} --approve`);

    // watch of the pipeline waits, as for an agent waiting on a human, until it moves and rests again.
    const watch = startCli(['watch', parent!, '--url', server!.url], { cwd: ROOT, timeoutMs: COMMAND_TIMEOUT_MS });
    await watch.waitFor(/\? needs approval: deploy_backend.*\n/);
    // Once its replay reached the waiting child, watch says, as show does, what it waits on and how to answer.
    await watch.waitFor(new RegExp(`↳ waiting on deploybot thread ${child}, which is awaiting_human\\n +reply: switchyard respond ${child} --approve`));
    const approved = await cli('respond', child!, '--approve');
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(/is done/);
    expect(await watch.exited()).toBe(0);
    expect(watch.stderr()).toBe('');
    const watched = watch.stdout().trim().split('\n').map((l) => l.trim());
    expect(watched[0]).toBe(`watching ${parent} (bugfix)`);
    expect(watched).toContain(`↳ delegated to deploybot: thread ${child}`);
    expect(watched.findIndex((l) => l.startsWith('✓ approved'))).toBeGreaterThan(watched.findIndex((l) => l.startsWith('? needs approval: deploy_backend')));
    expect(watched.at(-1)).toBe(`thread ${parent} is done`);
    const waited = await fetch(`${server!.url}/threads/${parent}/wait?timeoutMs=10000`);
    expect(await waited.json()).toMatchObject({ status: 'done', output: { plan: { deploy: true } } });
  });

  it('serve restarted on the same --dir (now with a token) still has the threads', async () => {
    expect(await server!.stop()).toBe(0);
    const down = await cli('threads');
    expect(down.code).toBe(1);
    expect(down.stderr.trim()).toBe(`error: cannot reach switchyard at ${server!.url}: is \`switchyard serve\` running?`);

    server = await startServe(dir, ['--token', 'sesame']);
    expect(server.stdout()).not.toContain('demo:');
    const refused = await cli('threads');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: unauthorized/);
    const listed = await cli('threads', '--json', '--token', 'sesame');
    expect(listed.code).toBe(0);
    const { threads } = JSON.parse(listed.stdout) as { threads: { id: string; status: string }[] };
    expect(Object.fromEntries(threads.map((t) => [t.id, t.status]))).toMatchObject({ [threadId]: 'done', [demoId]: 'awaiting_human' });
    // The calculator threads (one of them watched) and the pipeline with its two children.
    expect(threads).toHaveLength(7);
  });
});

describe('serve with SWITCHYARD_URL in the environment', () => {
  it('spells its hints with --url once: the URL it listens on, not the client setting', async () => {
    const urlDir = await mkdtemp(join(tmpdir(), 'switchyard-cli-url-'));
    const served = await startServe(urlDir, [], { SWITCHYARD_URL: 'http://127.0.0.1:1' });
    try {
      await served.waitFor(/respond (th_[\w-]+) --approve --request req_\w+ --url/);
      const hints = served.stdout().split('\n').filter((line) => /^\s*switchyard (launch|threads|respond|show) /.test(line));
      expect(hints.length).toBeGreaterThan(3);
      for (const hint of hints) expect(hint.trim()).toMatch(new RegExp(`^switchyard [^]*? --url ${served.url.replace(/[.]/g, '\\.')}$`));
      for (const hint of hints) expect(hint.match(/--url/g)).toHaveLength(1);
    } finally {
      await served.stop();
      await rm(urlDir, { recursive: true, force: true });
    }
  });
});

describe('serve with webhooks from the environment', () => {
  it('keeps trying a webhook its receiver answers 503 for a while, under one delivery id', async () => {
    // Three attempts were all it made; nothing sends a webhook again once it gives up.
    const receiver = await startReceiver([503, 503, 503, 204]);
    const hookDir = await mkdtemp(join(tmpdir(), 'switchyard-cli-hooks-'));
    const served = await startServe(hookDir, [], { SWITCHYARD_WEBHOOK_URL: receiver.url, SWITCHYARD_WEBHOOK_SECRET: 'hook-secret' });
    try {
      const attempts = await receiver.waitFor(4, 20_000); // the demo thread's approval request
      expect(new Set(attempts.map((r) => r.headers['x-switchyard-delivery'])).size).toBe(1);
      expect(JSON.parse(attempts[3]!.body)).toMatchObject({ type: 'thread.human_request', agent: 'calculator' });
    } finally {
      await served.stop();
      await receiver.close();
      await rm(hookDir, { recursive: true, force: true });
    }
  });

  it('POSTs a signed notification to SWITCHYARD_WEBHOOK_URL when a thread needs a human', async () => {
    const { createServer } = await import('node:http');
    const { verifyWebhookSignature } = await import('../../src/server/webhooks.js');
    const received: { body: string; headers: Record<string, string | string[] | undefined> }[] = [];
    let arrived!: () => void;
    const first = new Promise<void>((resolve) => (arrived = resolve));
    const receiver = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        received.push({ body, headers: req.headers });
        res.writeHead(204).end();
        arrived();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as { port: number }).port;
    const hookDir = await mkdtemp(join(tmpdir(), 'switchyard-cli-hooks-'));
    const served = await startServe(hookDir, [], { SWITCHYARD_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, SWITCHYARD_WEBHOOK_SECRET: 'hook-secret' });
    try {
      await first; // the demo thread stops at its approval
      const { body, headers } = received[0]!;
      expect(JSON.parse(body)).toMatchObject({ type: 'thread.human_request', agent: 'calculator', status: 'awaiting_human' });
      const signature = { timestamp: String(headers['x-switchyard-timestamp']), signature: String(headers['x-switchyard-signature']) };
      expect(verifyWebhookSignature(body, signature, 'hook-secret')).toBe(true);
      expect(verifyWebhookSignature(body, signature, 'wrong-secret')).toBe(false);
    } finally {
      await served.stop();
      receiver.close();
      await rm(hookDir, { recursive: true, force: true });
    }
  });
});
