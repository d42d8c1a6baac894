/**
 * What the CLI prints of a thread is text from outside (a trigger's input, a model's answer, a
 * human's response): control characters in it are shown as visible escapes, never written to the
 * terminal, where an escape sequence would retitle the window, clear the screen or hide lines.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { createHarness } from '../server/harness.js';
import { visibleText } from '../../src/cli/visibleText.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** C0 controls but newline and tab, DEL and C1 controls: what a terminal acts on. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

async function cli(url: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'switchyard', ...args, '--url', url], {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: {},
    stopped: () => new Promise<string>(() => {}),
  });
  return { code, stdout, stderr };
}


/** The test harness's runtime, served over HTTP on 127.0.0.1 (closed after the test). */
async function served() {
  const { runtime } = createHarness();
  const server = await startHttpServer(runtime, { port: 0, token: '' });
  cleanups.push(async () => {
    await server.close();
    await runtime.close();
  });
  return { runtime, server };
}

describe('the CLI prints text from outside', () => {
  it('with its control characters as visible escapes: a question, an answer, who answered and the output', async () => {
    const { runtime, server } = await served();
    const launched = await runtime.launch('calculator', { ask: '\u001b]0;owned\u0007which one?\r' }, { threadId: 'esc-1' });
    const asked = await runtime.settled(launched.id);
    expect(asked.status).toBe('awaiting_human');
    await runtime.respond(launched.id, { requestId: asked.pendingRequest!.requestId, answer: '\u001b[2Jcleared', by: '\u001b[8mhidden\u009b0m' });
    expect(await runtime.settled(launched.id)).toMatchObject({ status: 'done', output: 'you said \u001b[2Jcleared' });

    const shown = await cli(server.url, 'show', launched.id);
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toMatch(CONTROL);
    expect(shown.stdout).toContain('\\u001b]0;owned\\u0007which one?\\r');
    expect(shown.stdout).toContain('by \\u001b[8mhidden\\u009b0m');
    expect(shown.stdout).toMatch(/^output\s+you said \\u001b\[2Jcleared$/m);
  });
});

describe('visibleText', () => {
  it('keeps newlines and tabs, shows a line ending of \\r\\n as a newline, and every other control as an escape', () => {
    expect(visibleText('a\tb\nc')).toBe('a\tb\nc');
    // Text pasted from Windows, or a tool's HTTP body: its line endings are line endings.
    expect(visibleText('one\r\ntwo\r\n')).toBe('one\ntwo\n');
    expect(visibleText('over\rwrite')).toBe('over\\rwrite');
    expect(visibleText('\u001b[2J\u007f\u0085')).toBe('\\u001b[2J\\u007f\\u0085');
    expect(visibleText('naïve — ✓ 日本')).toBe('naïve — ✓ 日本');
  });
});

describe('the CLI with --json', () => {
  it('prints JSON that parses back to the very text, control characters included', async () => {
    const { runtime, server } = await served();
    const ask = 'tab\there\nDEL\u007f C1\u009b ESC\u001b[2J\r\nend';
    const launched = await runtime.launch('calculator', { ask }, { threadId: 'esc-json' });
    expect((await runtime.settled(launched.id)).status).toBe('awaiting_human');
    const shown = await cli(server.url, 'show', launched.id, '--json');
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toMatch(CONTROL);
    const view = JSON.parse(shown.stdout) as { events: { type: string; data: { input?: { ask?: string } } }[] };
    expect(view.events[0]).toMatchObject({ type: 'input', data: { input: { ask } } });
  });
});
