/**
 * An error of a refused decision (`invalid_args`, `unknown_intent`) records the arguments the model
 * sent (`args`); `show` and a follow's line print them on the error's line, clipped and escaped as
 * other model output is, so an engineer sees what the model got wrong (QA20 debug D7 follow-up).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { calculator } from '../../agents/calculator/index.js';
import { eventLine, threadDetails } from '../../src/cli/format.js';
import { runCli } from '../../src/cli/program.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import { viewOf } from '../../src/runtime/threadView.js';
import { startHttpServer } from '../../src/server/httpServer.js';
import { createMemoryStore } from '../../src/store/memoryStore.js';
import type { NewEvent, ThreadEvent } from '../../src/thread/events.js';
import { stampEvents } from '../../src/thread/thread.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const AT = '2026-12-06T12:00:00.000Z';
const refused = (args: unknown, kind = 'invalid_args'): NewEvent[] => [
  { type: 'input', data: { input: 'find A-1' } },
  { type: 'error', data: { kind, tool: 'lookup', message: 'lookup: id: Invalid input: expected string, received undefined', attempt: 1, args } } as NewEvent,
  { type: 'failed', data: { reason: 'gave up' } },
];
const events = (args: unknown, kind?: string): readonly ThreadEvent[] => stampEvents(0, refused(args, kind), AT);
const errorLineOf = (text: string): string => text.split('\n').find((line) => line.includes('✗ invalid_args') || line.includes('✗ unknown_intent'))!;

describe('the line of an error with the arguments the model sent', () => {
  it('prints them after the message, in show and in a follow', () => {
    const view = viewOf({ id: 't1', agent: 'finder', events: events({ identifier: 42 }) });
    expect(errorLineOf(threadDetails(view))).toMatch(/✗ invalid_args: lookup: id: Invalid input: expected string, received undefined; args: \{"identifier":42\}$/);
    expect(eventLine(view.events[1]!, 't1')).toBe('✗ invalid_args: lookup: id: Invalid input: expected string, received undefined; args: {"identifier":42}');
    const unknown = viewOf({ id: 't2', agent: 'finder', events: events({ id: 'A-1' }, 'unknown_intent') });
    expect(errorLineOf(threadDetails(unknown))).toContain('; args: {"id":"A-1"}');
  });

  it('clips long arguments (a follow more than show), on one line', () => {
    const args = { identifier: `${'x'.repeat(40)}\n${'y'.repeat(3000)}` };
    const view = viewOf({ id: 't1', agent: 'finder', events: events(args) });
    const follow = /; args: (.*)$/.exec(eventLine(view.events[1]!, 't1')!)?.[1];
    const shown = /; args: (.*)$/.exec(errorLineOf(threadDetails(view)))?.[1];
    expect(follow).toMatch(/^\{"identifier":"x{40}\\ny+…$/);
    expect(follow!.length).toBeLessThanOrEqual(160);
    expect(shown).toMatch(/^\{"identifier":"x{40}\\ny+…$/);
    expect(shown!.length).toBeGreaterThan(follow!.length);
    expect(shown!.length).toBeLessThanOrEqual(500);
  });

  it('prints nothing more for an error without them', () => {
    const view = viewOf({ id: 't1', agent: 'finder', events: stampEvents(0, [{ type: 'error', data: { kind: 'tool_error', tool: 'lookup', message: 'boom', attempt: 1 } }], AT) });
    expect(eventLine(view.events[0]!, 't1')).toBe('✗ tool_error: boom');
  });
});

describe('show over HTTP of a thread whose model sent hostile arguments', () => {
  it('prints them escaped: no control or bidirectional character reaches the terminal', async () => {
    const store = createMemoryStore();
    await store.create({ id: 'th-args', agent: 'calculator', events: stampEvents(0, refused({ identifier: 'a\u001b[2Jb\u202ec' }), AT) });
    const runtime = createRuntime({ agents: [calculator], store, model: scriptedModel([]) });
    const server = await startHttpServer(runtime, { port: 0, token: '' });
    cleanups.push(async () => {
      await server.close();
      await runtime.close();
    });
    let stdout = '';
    const code = await runCli(['node', 'switchyard', 'show', 'th-args', '--url', server.url], {
      stdout: (text) => void (stdout += text),
      stderr: () => undefined,
      env: {},
      stopped: () => new Promise<string>(() => {}),
    });
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(errorLineOf(stdout)).toContain('; args: {"identifier":"a\\u001b[2Jb\\u202ec"}');
  });
});
