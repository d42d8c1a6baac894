/**
 * `switchyard respond` words its refusals in the CLI's flags, not in the HTTP body's fields: a
 * response that does not fit the pending request, a flag value no server takes. Against a
 * `switchyard serve` of a config whose scripted model loops on one tool: `looper` escalates when
 * it reaches its step limit, `asker`'s tool needs an approval, `questioner` asks a question (its
 * prompt tells the model apart), and the pipeline `shipit` hands its one step to `asker`
 * (`nested` its one to `shipit`).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, cliTestTimeout, runCli, serveProject, type CliResult } from './cliProcess.js';

const SRC = JSON.stringify(join(ROOT, 'src/index.ts'));
const TESTING = JSON.stringify(join(ROOT, 'src/testing/index.ts'));

const CONFIG = `
import { z } from 'zod';
import { agent, defineConfig, pipeline, tool } from ${SRC};
import { scriptedModel } from ${TESTING};
const note = tool({ name: 'echo', description: 'echo', input: z.object({ text: z.string() }), run: ({ text }) => text });
const ship = tool({ name: 'echo', description: 'echo, approved', input: z.object({ text: z.string() }), approval: true, run: ({ text }) => text });
const looper = agent({ name: 'looper', description: 'never finishes', prompt: 'You help.', tools: [note], maxSteps: 3 });
const asker = agent({ name: 'asker', description: 'asks first', prompt: 'You help.', tools: [ship], maxSteps: 3 });
const questioner = agent({ name: 'questioner', description: 'asks a question', prompt: 'You ask.', tools: [note], maxSteps: 3 });
const shipit = pipeline({ name: 'shipit', description: 'has asker ship', input: z.string(), output: z.string() })
  .agent({ name: 'ship', agent: 'asker', input: ({ input }) => input })
  .finish(({ results }) => String(results.ship));
const nested = pipeline({ name: 'nested', description: 'has shipit ship', input: z.string(), output: z.string() })
  .agent({ name: 'outer', agent: 'shipit', input: ({ input }) => input })
  .finish(({ results }) => String(results.outer));
const reply = (request) =>
  request.system.includes('You ask.') ? { intent: 'request_human_input', args: { question: 'Which order?' } } : { intent: 'echo', args: { text: 'again' } };
export default defineConfig({ agents: [looper, asker, questioner], pipelines: [shipit, nested], model: scriptedModel([], { whenExhausted: reply }) });
`;

const project = serveProject('respond', CONFIG);

const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '--url', project.url], { cwd: project.dir });

/** Launches `agent` and returns the thread id once it rests with `status`. */
async function launched(agent: string, status: string): Promise<string> {
  const result = await cli('launch', agent, 'go');
  expect(result.code).toBe(0);
  const id = /^launched (th_[\w-]+)/m.exec(result.stdout)?.[1] ?? '';
  expect(result.stdout).toContain(`thread ${id} is ${status}`);
  return id;
}

async function statusOf(id: string): Promise<string> {
  return (await viewOf(id)).status;
}

/** The id of the request `id` waits on. */
async function pendingOf(id: string): Promise<string> {
  return (JSON.parse((await cli('show', id, '--json')).stdout) as { pendingRequest: { requestId: string } }).pendingRequest.requestId;
}

async function viewOf(id: string): Promise<{ status: string; events: { type: string }[] }> {
  return JSON.parse((await cli('show', id, '--json')).stdout) as { status: string; events: { type: string }[] };
}

describe('respond', () => {
  it('--approve on an escalation says to answer with --answer or stop it with --deny, and leaves the thread as it was', { timeout: cliTestTimeout(5) }, async () => {
    const id = await launched('looper', 'escalated');
    const request = await pendingOf(id);
    const refused = await cli('respond', id, '--approve');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trim().split('\n')).toEqual([
      `error: thread ${id} waits for guidance (it escalated); --approve does not answer it`,
      `  reply: switchyard respond ${id} --answer "guidance" --request ${request} --url ${project.url}  (or --deny to stop it)`,
    ]);
    expect(await statusOf(id)).toBe('escalated');

    const denied = await cli('respond', id, '--deny', '--no-follow');
    expect(denied.code).toBe(0);
    expect(denied.stderr).toBe('');
  });

  it('--answer on an approval says to --approve or --deny', { timeout: cliTestTimeout(4) }, async () => {
    const id = await launched('asker', 'awaiting_human');
    const request = await pendingOf(id);
    const refused = await cli('respond', id, '--answer', 'yes');
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toEqual([
      `error: thread ${id} waits for an approval of echo; --answer yes does not answer it`,
      `  reply: switchyard respond ${id} --approve --request ${request} --url ${project.url}  (or --deny --comment "why")`,
    ]);
    expect(await statusOf(id)).toBe('awaiting_human');
  });

  it.each([['--approve'], ['--deny']])('%s with --answer is a usage error, and the question stays open', { timeout: cliTestTimeout(4) }, async (flag) => {
    const id = await launched('questioner', 'awaiting_human');
    const refused = await cli('respond', id, flag, '--answer', 'order B-7');
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.split('\n')[0]).toBe(
      'error: --answer cannot be combined with --approve or --deny: answer a question or an escalation with --answer, an approval with --approve or --deny (and --comment)',
    );
    const view = await viewOf(id);
    expect(view.status).toBe('awaiting_human');
    expect(view.events.filter((event) => event.type === 'human_response')).toEqual([]);

    const answered = await cli('respond', id, '--answer', 'order B-7', '--no-follow');
    expect(answered.code).toBe(0);
    expect(answered.stderr).toBe('');
  });

  it('on a pipeline whose child waits for an approval names the child and how to answer it, and answers nothing', { timeout: cliTestTimeout(5) }, async () => {
    const launch = await cli('launch', 'shipit', 'go');
    expect(launch.code).toBe(0);
    const parent = /^launched (th_\S+)/m.exec(launch.stdout)?.[1] ?? '';
    const child = /↳ delegated to asker: thread (\S+)/.exec(launch.stdout)?.[1] ?? '';
    expect(launch.stdout).toContain(`↳ waiting on asker thread ${child}, which is awaiting_human`);

    const request = await pendingOf(child);
    const refused = await cli('respond', parent, '--approve');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trim()).toBe(
      `error: thread ${parent} is a pipeline waiting on asker thread ${child}, which waits for a human; reply: switchyard respond ${child} --approve --request ${request} --url ${project.url}  (or --deny --comment "why")`,
    );
    expect(await statusOf(parent)).toBe('running');
    expect(await statusOf(child)).toBe('awaiting_human');
  });

  it('on a nested pipeline (and show of it) names the grandchild that waits for an approval and how to answer it (QA24 pipelines #5)', { timeout: cliTestTimeout(5) }, async () => {
    const launch = await cli('launch', 'nested', 'go');
    expect(launch.code).toBe(0);
    const top = /^launched (th_\S+)/m.exec(launch.stdout)?.[1] ?? '';
    const middle = `${top}--outer`;
    const waiting = `${middle}--ship`;
    const request = await pendingOf(waiting);
    const reply = `switchyard respond ${waiting} --approve --request ${request} --url ${project.url}  (or --deny --comment "why")`;

    const shown = await cli('show', top);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`↳ waiting on asker thread ${waiting} (through shipit thread ${middle}), which is awaiting_human`);
    expect(shown.stdout).toContain(`reply: ${reply}`);

    const refused = await cli('respond', top, '--approve');
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe(`error: thread ${top} is a pipeline waiting on asker thread ${waiting} (through shipit thread ${middle}), which waits for a human; reply: ${reply}`);
    expect(await statusOf(waiting)).toBe('awaiting_human');
  });

  it("follows a nested pipeline's grandchild one indent deeper than its pipeline's own lines (QA28 qapipe D2)", { timeout: cliTestTimeout(2) }, async () => {
    const launch = await cli('launch', 'nested', 'go');
    expect(launch.code).toBe(0);
    const top = /^launched (th_\S+)/m.exec(launch.stdout)?.[1] ?? '';
    const lines = launch.stdout.split('\n');
    // The middle pipeline's lines (its input, its delegation) at 4 spaces; its child's at 6.
    expect(lines).toContain(`    ↳ delegated to asker: thread ${top}--outer--ship`);
    expect(lines).toContain('    • input: go');
    expect(lines).toContain('      • input: go');
    expect(lines.some((line) => line.startsWith('      ? needs approval: echo('))).toBe(true);
  });

  it('a flag value no server takes is a usage error naming the flag', { timeout: cliTestTimeout(3) }, async () => {
    const id = await launched('asker', 'awaiting_human');
    const refused = await cli('respond', id, '--approve', '--comment', 'x'.repeat(20_001));
    expect(refused.code).toBe(2);
    expect(refused.stderr.split('\n')[0]).toBe('error: --comment: Too big: expected string to have <=20000 characters');
    expect(await statusOf(id)).toBe('awaiting_human');
  });
});

describe('show', () => {
  it('of a thread cancelled while it waited for an approval offers no reply and does not say it still needs one', { timeout: cliTestTimeout(3) }, async () => {
    const id = await launched('asker', 'awaiting_human');
    const cancelled = await cli('cancel', id);
    expect(cancelled.code).toBe(0);
    const shown = await cli('show', id);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^status +cancelled$/m);
    expect(shown.stdout).not.toContain('reply:');
    expect(shown.stdout).not.toContain('needs approval');
    expect(shown.stdout).toMatch(/^ +\d+ +\S+ +\? asked for approval: echo\(\{"text":"again"\}\)$/m);
    expect(shown.stdout).toMatch(/^ +\d+ +\S+ +■ cancelled/m);
  });

  it('offers a reply only on the open request, not on one answered before', { timeout: cliTestTimeout(4) }, async () => {
    const id = await launched('questioner', 'awaiting_human');
    const answered = await cli('respond', id, '--answer', 'order B-7');
    expect(answered.code).toBe(0);
    expect(answered.stdout).toContain(`thread ${id} is awaiting_human`);
    const shown = await cli('show', id);
    const requests = shown.stdout.split('\n').filter((line) => /^ +\d+ +\S+ +\? /.test(line));
    expect(requests.map((line) => line.replace(/^ +\d+ +\S+ +/, ''))).toEqual([
      '? asked: Which order?',
      `? asks: Which order?  reply: switchyard respond ${id} --answer "..." --request ${await pendingOf(id)} --url ${project.url}`,
    ]);
  });
});

describe('threads', () => {
  it('--waiting lists the threads waiting for a human, escalated ones too; --status awaiting_human keeps to that status', { timeout: cliTestTimeout(8) }, async () => {
    const escalated = await launched('looper', 'escalated');
    const awaiting = await launched('asker', 'awaiting_human');
    const ended = await launched('asker', 'awaiting_human');
    expect((await cli('cancel', ended)).code).toBe(0);
    const listed = async (...args: string[]): Promise<Map<string, string>> => {
      const result = await cli('threads', '--json', ...args);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return new Map((JSON.parse(result.stdout) as { threads: { id: string; status: string }[] }).threads.map((t) => [t.id, t.status]));
    };

    const waiting = await listed('--waiting');
    expect(waiting.get(escalated)).toBe('escalated');
    expect(waiting.get(awaiting)).toBe('awaiting_human');
    expect(waiting.has(ended)).toBe(false);
    expect(new Set(waiting.values())).toEqual(new Set(['awaiting_human', 'escalated']));
    const awaitingOnly = await listed('--status', 'awaiting_human');
    expect(awaitingOnly.has(awaiting)).toBe(true);
    expect(awaitingOnly.has(escalated)).toBe(false);

    const both = await cli('threads', '--waiting', '--status', 'done');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--waiting.*cannot be used with.*--status|--status.*cannot be used with.*--waiting/);
    const help = await cli('threads', '--help');
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('--waiting only threads waiting for a human: awaiting_human and escalated');
  });
});

describe('threads --waiting of a pipeline whose child waits', () => {
  it("lists the child once, naming the pipeline it belongs to in a PIPELINE column (the pipeline is running, not listed)", { timeout: cliTestTimeout(2) }, async () => {
    const launch = await cli('launch', 'shipit', 'go');
    expect(launch.code).toBe(0);
    const pipelineId = /^launched (th_[\w-]+)/m.exec(launch.stdout)?.[1] ?? '';
    const childId = `${pipelineId}--ship`;
    // `launch` of the pipeline follows it until its child waits (a pipeline waiting on a child rests for `launch`).
    expect(launch.stdout).toContain(pipelineId);
    const table = await cli('threads', '--waiting', '--limit', '500');
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID\s+AGENT\s+STATUS\s+EVENTS\s+UPDATED\s+PIPELINE\s+PENDING$/);
    const rows = lines.filter((line) => line.includes(pipelineId));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(new RegExp(`^${childId}\\s+asker\\s+awaiting_human\\s+.*\\s${pipelineId}\\s+approval: echo`));
  });
});

describe('threads: pending requests and --updated-before', () => {
  it('shows what each waiting thread asks in a PENDING column, and nothing once it ended', { timeout: cliTestTimeout(6) }, async () => {
    const asking = await launched('asker', 'awaiting_human');
    const question = await launched('questioner', 'awaiting_human');
    const escalated = await launched('looper', 'escalated');
    const table = await cli('threads', '--limit', '1000');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    // Threads earlier tests failed or cancelled say why in a REASON column after it.
    expect(lines[0]).toMatch(/^ID +AGENT +STATUS +EVENTS +UPDATED +(PIPELINE +)?PENDING( +REASON)?$/);
    const rowOf = (id: string): string => lines.find((line) => line.startsWith(`${id} `)) ?? '';
    expect(rowOf(asking)).toMatch(/ awaiting_human .* approval: echo \{"text":"again"\}$/);
    expect(rowOf(question)).toMatch(/ awaiting_human .* input: Which order\?$/);
    expect(rowOf(escalated)).toMatch(/ escalated .* escalation: \S/);

    expect((await cli('respond', escalated, '--deny', '--no-follow')).code).toBe(0);
    const after = (await cli('threads', '--limit', '1000')).stdout.split('\n').find((line) => line.startsWith(`${escalated} `)) ?? '';
    // No longer waiting: no request, but why it failed.
    expect(after).toMatch(/ failed .* a human (\(.*\) )?stopped the agent/);
    expect(after).not.toContain('escalation: ');
  });

  it('--updated-before takes a duration or a time as prune --ended-before does, and lists only the threads last updated before it', { timeout: cliTestTimeout(7) }, async () => {
    const id = await launched('questioner', 'awaiting_human');
    const updatedAt = (JSON.parse((await cli('show', id, '--json')).stdout) as { updatedAt: string }).updatedAt;
    const ids = async (cutoff: string): Promise<string[]> => {
      const result = await cli('--json', 'threads', '--limit', '1000', '--updated-before', cutoff);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return (JSON.parse(result.stdout) as { threads: { id: string }[] }).threads.map((t) => t.id);
    };
    expect(await ids(new Date(Date.parse(updatedAt) + 1).toISOString())).toContain(id);
    expect(await ids(updatedAt)).not.toContain(id);
    expect(await ids('1h')).not.toContain(id);

    const bad = await cli('threads', '--updated-before', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--updated-before');
    expect(bad.stderr).toContain('is not a cutoff');
    const later = await cli('threads', '--updated-before', '2999-01-01');
    expect(later.code).toBe(2);
    expect(later.stderr).toContain('is after now');
  });
});

describe('launch', () => {
  it('--thread-id that no server takes is a usage error naming the flag', { timeout: cliTestTimeout(1) }, async () => {
    const refused = await cli('launch', 'looper', 'go', '--thread-id', 'bad id!');
    expect(refused.code).toBe(2);
    expect(refused.stderr.split('\n')[0]).toBe(`error: option '--thread-id <id>' argument 'bad id!' is invalid. must be 1 to 128 letters, digits or _ : -`);
  });
});

describe('a thread id argument', () => {
  it('that no server takes is a usage error naming the argument, for every command that takes one', { timeout: cliTestTimeout(6) }, async () => {
    const long = 'A'.repeat(129);
    for (const args of [['show', long], ['watch', long], ['respond', long, '--approve'], ['pause', 'bad id!'], ['resume', 'bad id!'], ['cancel', long]]) {
      const refused = await cli(...args);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr.split('\n')[0], args.join(' ')).toBe(`error: command-argument value '${args[1]}' is invalid for argument 'id'. must be 1 to 128 letters, digits or _ : -`);
    }
  });
});
