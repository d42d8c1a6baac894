/**
 * The embedded data directory holds what threads recorded (inputs, tool results, model and human
 * answers): `serve` keeps it to its own user, whatever the umask, files 0600 and directories 0700.
 * A directory an earlier version left readable by others (0755, 0644 files) still works, and the
 * start says how to close it.
 */
import { chmodSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startCli } from './cliProcess.js';
import { serveInProcess } from './runInProcess.js';

let parent: string;
beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'switchyard-modes-'));
});
afterAll(async () => {
  await rm(parent, { recursive: true, force: true });
});

/** Every path under `dir` (itself included) with its permission bits. */
function modesUnder(dir: string): Map<string, number> {
  const modes = new Map<string, number>([[dir, statSync(dir).mode & 0o777]]);
  for (const name of readdirSync(dir, { recursive: true })) {
    const path = join(dir, String(name));
    modes.set(path, statSync(path).mode & 0o777);
  }
  return modes;
}

/** Launches a demo calculator thread and waits until it rests (it asks for an approval). */
async function launchAndWait(url: string): Promise<string> {
  const launched = await fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'calculator', input: 'what is (3 + 4) / 2' }) });
  expect(launched.status).toBe(201);
  const { id } = (await launched.json()) as { id: string };
  const waited = await fetch(`${url}/threads/${id}/wait`);
  expect(((await waited.json()) as { status: string }).status).toBe('awaiting_human');
  return id;
}

describe('the data directory serve writes', () => {
  it('is its user\'s alone: files 0600, directories 0700', async () => {
    const dir = join(parent, 'fresh', '.switchyard');
    const server = await serveInProcess(['--dir', dir], {});
    try {
      await launchAndWait(server.url);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const modes = modesUnder(dir);
    expect(modes.size).toBeGreaterThan(5); // the lock, the ledger, a thread file, the index's files
    const open = [...modes].filter(([, mode]) => (mode & 0o077) !== 0).map(([path, mode]) => `${path} ${mode.toString(8)}`);
    expect(open).toEqual([]);
  });

  it('written by an earlier version, readable by others: still served, and the start says how to close it', async () => {
    const dir = join(parent, 'upgraded', '.switchyard');
    const first = await serveInProcess(['--dir', dir], {});
    let id: string;
    try {
      id = await launchAndWait(first.url);
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // As the versions before this one left it (umask 022).
    for (const [path] of modesUnder(dir)) chmodSync(path, statSync(path).isDirectory() ? 0o755 : 0o644);

    // A process of its own: its log lines (pino, on stderr) are what the test reads.
    const second = startCli(['serve', '--port', '0', '--no-demo', '--dir', dir], { cwd: ROOT });
    try {
      const url = (await second.waitFor(/switchyard listening on (http:\/\/\S+)/))[1]!;
      await second.waitFor(/press Ctrl\+C to stop/);
      expect(second.stderr()).toContain(`the data directory ${dir} is open to other users (mode 755): threads hold inputs, tool results and answers; chmod -R go-rwx ${dir}`);
      const read = await fetch(`${url}/threads/${id}`);
      expect(read.status).toBe(200);
      const newer = await launchAndWait(url);
      expect(statSync(join(dir, 'threads', `${newer}.jsonl`)).mode & 0o777).toBe(0o600);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });
});
