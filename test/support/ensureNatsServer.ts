import { aptGet } from './aptGet.js';
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const INSTALL_HINT =
  'nats-server is required by the NATS tests and is not on PATH. Install it with ' +
  '`sudo apt-get install -y nats-server` (Debian/Ubuntu; Debian bookworm ships 2.9.10), ' +
  'or put a nats-server 2.9+ binary on PATH.';

let cached: string | undefined;

/** Finds an executable named `name` on PATH (and in /usr/sbin, where Debian may put daemons). */
function which(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const extra of ['/usr/sbin', '/usr/bin', '/usr/local/bin']) {
    if (!dirs.includes(extra)) dirs.push(extra);
  }
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}


/**
 * Returns the path of a `nats-server` binary, installing it with apt-get when possible.
 *
 * - `nats-server` on PATH: use it.
 * - else, running as root with apt-get available: `apt-get update` then
 *   `apt-get install -y nats-server`, then use it.
 * - else: throw an Error that says how to install it. Tests never skip silently.
 */
export function ensureNatsServer(): string {
  if (cached) return cached;
  const found = which('nats-server');
  if (found) {
    cached = found;
    return found;
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && which('apt-get')) {
    process.stderr.write('[ensureNatsServer] nats-server not found; installing it with apt-get\n');
    // Test files run in parallel workers: wait for another worker's apt-get rather than fail, and
    // accept a binary that another worker installed meanwhile.
    const lock = ['-o', 'DPkg::Lock::Timeout=120'];
    try {
      aptGet([...lock, 'update'], 'ensureNatsServer', INSTALL_HINT);
      aptGet([...lock, 'install', '-y', 'nats-server'], 'ensureNatsServer', INSTALL_HINT);
    } catch (error) {
      if (!which('nats-server')) throw error;
    }
    const installed = which('nats-server');
    if (!installed) throw new Error(`apt-get installed nats-server but it is not on PATH.\n${INSTALL_HINT}`);
    cached = installed;
    return installed;
  }
  throw new Error(INSTALL_HINT);
}

/** The version string `nats-server --version` prints, e.g. `nats-server: v2.9.10`. */
export function natsServerVersion(binary = ensureNatsServer()): string {
  return execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
}
