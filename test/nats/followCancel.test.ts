/**
 * Following a thread that another process cancels while its tool call runs on a NATS worker: the
 * worker journals the call's outcome after the cancel, and whoever follows the thread (the HTTP
 * event stream of the API process, `switchyard watch` on it) reports that outcome before it ends,
 * so a user watching learns that the side effect happened.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { runCli, type CliIO } from '../../src/cli/program.js';
import { startHttpServer, type HttpServer } from '../../src/server/httpServer.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { openSse } from '../server/harness.js';
import { deferred, useNatsTestBed } from './natsTestKit.js';
import { callHeldOnWorker, publisherFleet } from './publisherFleet.js';

const bed = useNatsTestBed();

/** A worker holding a publish call, and the HTTP server of an API process (no worker) of the same deployment. */
async function heldBehindHttp() {
  const fleet = publisherFleet();
  const held = await callHeldOnWorker(bed, fleet);
  const http: HttpServer = await startHttpServer(held.api.runtime, { port: 0, token: '' });
  onTestFinished(() => http.close());
  return { ...fleet, ...held, http };
}

/** `switchyard <args> --url <url>` in this process: what it prints, each line as it comes, and its exit code. */
function cliRun(url: string, args: readonly string[], onLine: (line: string) => void) {
  const lines: string[] = [];
  const io: CliIO = {
    stdout: (text) => {
      for (const line of text.split('\n').filter((l) => l !== '')) {
        lines.push(line);
        onLine(line);
      }
    },
    stderr: (text) => lines.push(`stderr: ${text}`),
    env: {},
    stopped: () => new Promise<string>(() => undefined),
  };
  const exit = runCli(['node', 'switchyard', ...args, '--url', url], io);
  return { lines, exit };
}

describe('following a thread cancelled by another process while its call runs on a NATS worker', () => {
  it('switchyard watch, following it live, reports the result the worker records after the cancel, then ends', async () => {
    const { tools, api, id, http } = await heldBehindHttp();
    const following = deferred();
    const sawCancel = deferred();
    const watch = cliRun(http.url, ['watch', id], (line) => {
      if (line.includes('decided publish')) following.resolve();
      if (line.includes('■ cancelled')) sawCancel.resolve();
    });
    await following.promise;

    expect(await api.runtime.cancel(id, { by: 'qa' })).toMatchObject({ status: 'cancelled' });
    await sawCancel.promise;
    tools.release.resolve('published');
    await watch.exit;

    expect(watch.lines.map((line) => line.trim())).toEqual([
      `watching ${id} (publisher)`,
      '• input: publish hello',
      '✓ decided publish {"post":"hello"}',
      '■ cancelled by qa',
      '→ publish = published',
      `thread ${id} is cancelled`,
    ]);
    expect(tools.runs()).toBe(1);
  });

  it('an event stream asked for after the cancel, at its version, is not answered 204 while the call runs: it sends the result, then ends', async () => {
    const { tools, api, id, http } = await heldBehindHttp();
    const cancelled = await api.runtime.cancel(id, { by: 'qa' });
    expect(cancelled).toMatchObject({ status: 'cancelled', version: 4 });

    const sse = await openSse(`${http.url}/threads/${id}/events?after=${cancelled.version}`);
    onTestFinished(() => sse.close());
    expect(sse.status).toBe(200);
    tools.release.resolve('published');
    const frames = (await sse.until((f) => f.event === 'end')).filter((f) => f.event !== undefined);

    expect(frames.map((f) => f.event)).toEqual(['tool_result', 'end']);
    const result = JSON.parse(frames[0]!.data!) as ThreadEvent;
    expect(result).toMatchObject({ seq: 5, type: 'tool_result', data: { tool: 'publish', result: 'published' } });
    expect(JSON.parse(frames[1]!.data!)).toEqual({ status: 'cancelled' });
    expect(await sse.next()).toBeUndefined();
    // Nothing is left to send now.
    expect((await fetch(`${http.url}/threads/${id}/events?after=5`)).status).toBe(204);
  });
});
