/**
 * Bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) in text from outside
 * are shown as visible escapes, as control characters are: printed raw, a right-to-left override
 * makes a terminal line read differently from what was recorded (QA20 hostile observation).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { visibleText } from '../../src/cli/visibleText.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { createHarness } from '../server/harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Every bidirectional formatting character a terminal may reorder text by. */
const BIDI = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'];
const ANY_BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

async function cli(url: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const code = await runCli(['node', 'switchyard', ...args, '--url', url], {
    stdout: (text) => void (stdout += text),
    stderr: () => undefined,
    env: {},
    stopped: () => new Promise<string>(() => {}),
  });
  return { code, stdout };
}

describe('visibleText of bidirectional controls', () => {
  it('shows each as its \\u escape, and leaves right-to-left letters as they are', () => {
    for (const char of BIDI) expect(visibleText(`a${char}b`)).toBe(`a\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}b`);
    expect(visibleText('pay \u202egpj.exe')).toBe('pay \\u202egpj.exe');
    // Hebrew and Arabic text is text, not a control.
    expect(visibleText('שלום مرحبا')).toBe('שלום مرحبا');
  });
});

describe('show of a thread whose text holds bidirectional controls', () => {
  it('prints them as escapes (the output and the answer), and --json still parses back to the very text', async () => {
    const { runtime } = createHarness();
    const server = await startHttpServer(runtime, { port: 0, token: '' });
    cleanups.push(async () => {
      await server.close();
      await runtime.close();
    });
    const launched = await runtime.launch('calculator', { ask: 'which \u2067file\u2069?' }, { threadId: 'bidi-1' });
    const asked = await runtime.settled(launched.id);
    expect(asked.status).toBe('awaiting_human');
    await runtime.respond(launched.id, { requestId: asked.pendingRequest!.requestId, answer: 'invoice\u202efdp.exe' });
    expect(await runtime.settled(launched.id)).toMatchObject({ status: 'done', output: 'you said invoice\u202efdp.exe' });

    const shown = await cli(server.url, 'show', launched.id);
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toMatch(ANY_BIDI);
    expect(shown.stdout).toContain('which \\u2067file\\u2069?');
    expect(shown.stdout).toMatch(/^output\s+you said invoice\\u202efdp\.exe$/m);

    const json = await cli(server.url, 'show', launched.id, '--json');
    expect(json.code).toBe(0);
    expect(json.stdout).not.toMatch(ANY_BIDI);
    expect((JSON.parse(json.stdout) as { output: unknown }).output).toBe('you said invoice\u202efdp.exe');
  });
});
