/**
 * One `switchyard serve` per data directory: a second one on the same `--dir` would take the
 * threads the first is running for threads a dead process left behind (its start-up recovery),
 * and ask a human whether a tool call the first is making took effect. A serve that froze past
 * the claim's stale time (SIGSTOP, a paused VM) and finds its directory taken over meanwhile
 * stops instead of serving on beside the new holder.
 */
import { linkSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI_TIMEOUT_MS, ROOT, cliTestTimeout, runCli, startCli, type CliProcess } from './cliProcess.js';

const TIMEOUT_MS = CLI_TIMEOUT_MS;

let dir: string;
const started: CliProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-shared-dir-'));
});

afterEach(async () => {
  for (const serve of started.splice(0)) await serve.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startServe(): Promise<CliProcess> {
  const serve = startCli(['serve', '--port', '0', '--dir', dir, '--no-demo'], { cwd: ROOT, timeoutMs: TIMEOUT_MS });
  started.push(serve);
  await serve.waitFor(/press Ctrl\+C to stop/);
  return serve;
}

describe('serve on a data directory another serve is using', () => {
  it('refuses to start (exit 2, naming the directory and the other process) while the first serves on', async () => {
    const first = await startServe();
    const second = await runCli(['serve', '--port', '0', '--dir', dir, '--no-demo'], { cwd: ROOT, timeoutMs: TIMEOUT_MS });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`${dir} is in use by another switchyard serve (pid `);
    expect(second.stdout).not.toContain('switchyard listening on');
    expect(first.stdout()).toContain('press Ctrl+C to stop');
    expect(await first.stop()).toBe(0);
    started.length = 0;
  }, cliTestTimeout(2));

  it('starts once the first has stopped, or was killed', async () => {
    const first = await startServe();
    expect(await first.stop()).toBe(0);
    started.length = 0;
    const second = await startServe();
    second.signal('SIGKILL');
    await second.exited();
    started.length = 0;
    const third = await startServe();
    expect(third.stdout()).toContain('switchyard listening on');
  }, cliTestTimeout(3));

  it('stops (exit 1), naming the directory and the new holder, when its claim was taken over while it was frozen', async () => {
    const first = await startServe();
    first.signal('SIGSTOP');
    const lockFile = takeOverClaim();
    const taken = statSync(lockFile);
    first.signal('SIGCONT');

    // Its next heartbeat (every 5 s) finds the claim lost.
    expect(await first.exited()).toBe(1);
    started.length = 0;
    expect(first.stderr()).toContain(dir);
    expect(first.stderr()).toContain('pid 4242 on another-host');
    const after = statSync(lockFile);
    expect([after.ino, after.mtimeMs, after.ctimeMs]).toEqual([taken.ino, taken.mtimeMs, taken.ctimeMs]);
    expect(JSON.parse(readFileSync(lockFile, 'utf8'))).toEqual({ pid: 4242, host: 'another-host', token: 'elsewhere' });
  }, cliTestTimeout(1));

  it('writes nothing more into the directory once its claim is lost: no checkpoint of its index over the new holder\'s (qa25-ops D0)', async () => {
    const first = await startServe();
    const [, url] = first.stdout().match(/switchyard listening on (\S+)/) ?? [];
    // A thread it ran: its index has changes a close would save as a snapshot.
    const launched = await fetch(`${url}/threads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'calculator', input: 'what is 2 + 3' }) });
    expect(launched.status).toBe(201);
    const { id } = (await launched.json()) as { id: string };
    expect(((await (await fetch(`${url}/threads/${id}/wait`)).json()) as { status: string }).status).toMatch(/done|awaiting_human/);
    first.signal('SIGSTOP');
    takeOverClaim();
    const indexDir = join(dir, 'threads', '.index');
    const before = listing(indexDir);
    first.signal('SIGCONT');

    expect(await first.exited()).toBe(1);
    started.length = 0;
    expect(listing(indexDir)).toEqual(before);
  }, cliTestTimeout(1));
});

/**
 * What a serve on another host sharing the directory does while the first is frozen: breaks its
 * claim as stale (renamed aside and removed, as fileLock.ts breaks a lock) and takes it. Returns
 * the lock file.
 */
function takeOverClaim(): string {
  const lockFile = join(dir, 'serve.lock');
  renameSync(lockFile, `${lockFile}.aside.stale`);
  unlinkSync(`${lockFile}.aside.stale`);
  const owner = join(dir, 'owner.elsewhere');
  writeFileSync(owner, JSON.stringify({ pid: 4242, host: 'another-host', token: 'elsewhere' }));
  linkSync(owner, lockFile);
  return lockFile;
}

/** Each file of `dir` with its size and modification time. */
function listing(dir: string): Record<string, [number, number]> {
  return Object.fromEntries(readdirSync(dir).map((name) => {
    const stat = statSync(join(dir, name));
    return [name, [stat.size, stat.mtimeMs]];
  }));
}
