/**
 * `serve` on a data directory whose index was deleted and one of whose thread files is corrupt:
 * the rebuild of the index is logged at info with its reason, the corrupt file at error naming
 * the file, where and what is wrong, and the API answers a read, a response or a relaunch of the
 * corrupt thread with an error naming the thread and the corruption (not the generic 500).
 */
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFileStore } from '../../src/store/fileStore.js';
import { finalEvent, humanRequestEvent, inputEvent } from '../store/fixtures/events.js';
import { ROOT, runCli, startCli, type CliProcess } from './cliProcess.js';

let dir: string;
let threadsDir: string;
let served: CliProcess;
let url: string;

/** The JSON log lines `serve` wrote to stderr so far. */
function logLines(): Array<Record<string, unknown>> {
  return served
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(async () => {
  dir = await mkdtemp(join(ROOT, 'node_modules', '.switchyard-cli-corrupt-'));
  threadsDir = join(dir, 'data', 'threads');
  const store = await createFileStore({ dir: threadsDir });
  await store.create({ id: 'good', agent: 'calculator', events: [inputEvent(1), finalEvent(2)] });
  await store.create({ id: 'c3', agent: 'calculator', events: [inputEvent(1), humanRequestEvent(2)] });
  await store.close();
  // A line that parses but is no line of events, and the index gone.
  await appendFile(join(threadsDir, 'c3.jsonl'), '{"seq":3,"at":"2026-12-06T02:00:00.000Z","type":"bogus_type","data":{}}\n');
  await rm(join(threadsDir, '.index'), { recursive: true, force: true });

  served = startCli(['serve', '--port', '0', '--dir', join(dir, 'data')], { cwd: dir, env: { SWITCHYARD_LOG_LEVEL: 'info' } });
  url = (await served.waitFor(/switchyard listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
  await served.waitFor(/press Ctrl\+C to stop/);
});
afterAll(async () => {
  await served?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('serve on a store with a corrupt thread file and no index', () => {
  it('logs the rebuild of the index at info, with its reason and how long opening took', async () => {
    await vi.waitFor(() => expect(logLines().some((line) => line.reason === 'missing')).toBe(true));
    const rebuilt = logLines().find((line) => line.reason === 'missing')!;
    expect(rebuilt.level).toBe(30);
    expect(rebuilt.msg).toMatch(/^rebuilt the thread index from the thread files \(missing: /);
    expect(rebuilt.dir).toBe(threadsDir);
    expect(typeof rebuilt.ms).toBe('number');
  });

  it('logs the corrupt thread file at error, naming the thread, the file, the byte and what is wrong', async () => {
    await vi.waitFor(() => expect(logLines().some((line) => line.threadId === 'c3')).toBe(true));
    const corrupt = logLines().find((line) => line.threadId === 'c3')!;
    expect(corrupt.level).toBe(50);
    expect(corrupt.msg).toBe(`thread c3 is left out of listings: thread file ${join(threadsDir, 'c3.jsonl')} is corrupt: line at byte ${corrupt.byte as number} has no events array`);
    expect(corrupt.byte).toBeGreaterThan(0);
  });

  it('lists the good thread only', async () => {
    const response = await fetch(`${url}/threads`);
    expect(((await response.json()) as { threads: Array<{ id: string }> }).threads.map((t) => t.id)).toEqual(['good']);
  });

  it('answers a read, a response and a relaunch of the corrupt thread with an error naming the thread and the corruption', async () => {
    const answers = await Promise.all([
      fetch(`${url}/threads/c3`),
      fetch(`${url}/threads/c3/respond`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: 'req_2', answer: 'yes' }) }),
      fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'calculator', input: 'x', threadId: 'c3' }) }),
    ]);
    for (const answer of answers) {
      expect(answer.status).toBe(500);
      const body = (await answer.json()) as { error: string };
      expect(body.error).toMatch(/^thread c3 is corrupt: line at byte \d+ has no events array; it cannot be read or changed until its file is repaired \(the server log names the file\)$/);
    }
  });

  it('says so in `show` too', async () => {
    const result = await runCli(['show', 'c3', '--url', url], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: thread c3 is corrupt: line at byte \d+ has no events array/);
  });
});
