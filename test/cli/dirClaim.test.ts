/**
 * serve's claim of its data directory (`<dir>/serve.lock`): held while the serve runs, taken over
 * when its holder is gone, also when that holder ran on another host (a data directory moved to
 * another machine after its serve died there); and lost, never kept by touching the new holder's lock,
 * when its holder froze for longer than the stale time and another serve took it over meanwhile.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { claimDir } from '../../src/cli/dirClaim.js';
import { ConfigError } from '../../src/errors.js';
import { unreapedProcess, type UnreapedProcess } from '../support/unreapedProcess.js';

let dir: string;
const releases: (() => void)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-claim-'));
});

afterEach(async () => {
  for (const release of releases.splice(0)) release();
  await rm(dir, { recursive: true, force: true });
});

/** Claims `dir`, or answers the refusal. */
function tryClaim(staleMs: number): (() => void) | ConfigError {
  try {
    const release = claimDir(dir, { staleMs, heartbeatMs: 20 });
    releases.push(release);
    return release;
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

/** Tries to claim `dir` every 20 ms, `tries` times: the first success, or the last refusal. */
async function claimWithin(staleMs: number, tries: number): Promise<(() => void) | ConfigError> {
  let last: (() => void) | ConfigError = new ConfigError('not tried');
  for (let i = 0; i < tries; i++) {
    last = tryClaim(staleMs);
    if (typeof last === 'function') return last;
    await delay(20);
  }
  return last;
}

describe("serve's claim of its data directory", () => {
  it('is taken over once a claim of another host stopped being refreshed (its serve died there)', async () => {
    const owner = join(dir, 'owner.elsewhere');
    writeFileSync(owner, JSON.stringify({ pid: 4242, host: 'another-host', token: 'elsewhere' }));
    linkSync(owner, join(dir, 'serve.lock'));
    const first = tryClaim(300);
    expect(first).toBeInstanceOf(ConfigError);
    expect((first as ConfigError).message).toContain('pid 4242 on another-host');
    // Bounded: 250 tries of 20 ms, far past the 300 ms after which the claim is stale.
    expect(typeof (await claimWithin(300, 250))).toBe('function');
  });

  it('is not taken over while its serve runs, however long: the holder refreshes it', async () => {
    const held = tryClaim(300);
    expect(typeof held).toBe('function');
    // Another serve tries for well past the stale age (about 40 x 20 ms, at least 800 ms).
    const other = await claimWithin(300, 40);
    expect(other).toBeInstanceOf(ConfigError);
    (held as () => void)();
    releases.length = 0;
    expect(typeof tryClaim(300)).toBe('function');
  });
});

/** Makes `dir` look claimed by the serve with pid `pid` on this host. */
function claimedBy(pid: number): void {
  const owner = join(dir, 'owner.holder');
  writeFileSync(owner, JSON.stringify({ pid, host: hostname(), token: 'holder' }));
  linkSync(owner, join(dir, 'serve.lock'));
}

describe.runIf(process.platform === 'linux')("serve's claim held by another process of this host", () => {
  let holder: UnreapedProcess;

  beforeEach(async () => {
    holder = await unreapedProcess();
  });

  afterEach(() => {
    holder.dispose();
  });

  it('is kept while that process runs, and the refusal says it is taken over once the process is gone', () => {
    claimedBy(holder.pid);
    const refused = tryClaim(30_000);
    expect(refused).toBeInstanceOf(ConfigError);
    const { message } = refused as ConfigError;
    expect(message).toContain(`is in use by another switchyard serve (pid ${holder.pid} on ${hostname()})`);
    // On this host a claim is not waited out for 30 s: it is taken as soon as its process is gone.
    expect(message).toContain(`it is taken over as soon as pid ${holder.pid} has exited`);
    expect(message).not.toContain('after its last heartbeat, or delete');
  });

  it('is taken over at once when that process was killed, though its parent has not reaped it yet (a zombie)', async () => {
    claimedBy(holder.pid);
    await holder.killToZombie();
    expect(typeof tryClaim(30_000)).toBe('function');
  });
});

describe('a copy of a data directory whose serve runs (its serve.lock copied with it)', () => {
  it('is claimed at once, and the note says the lock claimed the directory it was copied from', async () => {
    const original = join(dir, 'original');
    const copy = join(dir, 'copy');
    mkdirSync(original);
    releases.push(claimDir(original, { staleMs: 30_000, heartbeatMs: 5_000 }));
    cpSync(original, copy, { recursive: true, preserveTimestamps: true });
    const notes: string[] = [];
    const claimed = claimDir(copy, { staleMs: 30_000, heartbeatMs: 5_000, logger: { info: (_fields: object, message: string) => notes.push(message) } });
    releases.push(claimed);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain(`claims ${original}, not ${copy}`);
    // The original is still held.
    expect(() => claimDir(original, { staleMs: 30_000 })).toThrow(ConfigError);
  });

  it('still counts a lock written before locks recorded their directory as a live claim', () => {
    const owner = join(dir, 'owner.old');
    writeFileSync(owner, JSON.stringify({ pid: process.ppid, host: hostname(), token: 'old' }));
    linkSync(owner, join(dir, 'serve.lock'));
    const refused = tryClaim(30_000);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).message).toContain(`pid ${process.ppid} on ${hostname()}`);
  });
});

describe("the owner files left in the data directory", () => {
  it('are swept when their process is gone; a live one is kept', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolveExit) => child.on('exit', resolveExit));
    const dead = join(dir, 'owner.dead');
    writeFileSync(dead, JSON.stringify({ pid: child.pid, host: hostname(), token: 'dead' }));
    const live = join(dir, 'owner.live');
    writeFileSync(live, JSON.stringify({ pid: process.ppid, host: hostname(), token: 'live' }));
    expect(typeof tryClaim(30_000)).toBe('function');
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });
});

describe("serve's claim taken over while its holder was frozen (SIGSTOP, a VM pause, a long GC)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("is lost: the old holder's heartbeat reports it and does not refresh the new holder's lock", () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const losses: string[] = [];
    const first = claimDir(dir, { staleMs: 30_000, heartbeatMs: 5_000, onLost: (holder) => losses.push(holder) });
    releases.push(first);
    // The first holder froze for a minute: its claim is stale, and a second serve takes it over
    // (it refreshes later than the first does, so only the first's heartbeat runs below).
    vi.setSystemTime(Date.now() + 60_000);
    const second = claimDir(dir, { staleMs: 30_000, heartbeatMs: 600_000 });
    releases.push(second);
    const lockFile = join(dir, 'serve.lock');
    const before = statSync(lockFile);
    const content = readFileSync(lockFile, 'utf8');

    // The first resumes: its next heartbeat runs.
    vi.advanceTimersByTime(5_000);

    const after = statSync(lockFile);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.ctimeMs).toBe(before.ctimeMs);
    expect(after.ino).toBe(before.ino);
    expect(readFileSync(lockFile, 'utf8')).toBe(content);
    expect(losses).toEqual([`pid ${process.pid} on ${hostname()}`]);
    // Its heartbeat stopped: no second report.
    vi.advanceTimersByTime(20_000);
    expect(losses).toHaveLength(1);

    // Its release leaves the new holder's lock alone.
    first();
    releases.splice(releases.indexOf(first), 1);
    expect(statSync(lockFile).ino).toBe(before.ino);
  });
});
