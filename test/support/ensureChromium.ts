import { aptGet } from './aptGet.js';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The one command that installs the browser the inspector tests drive. */
export const CHROMIUM_INSTALL_COMMAND = 'sudo apt-get update && sudo apt-get install -y chromium';

const INSTALL_HINT =
  "The inspector's browser tests drive Debian's chromium (never a downloaded browser) and it is not installed. " +
  `Install it with \`${CHROMIUM_INSTALL_COMMAND}\`, or set CHROMIUM_PATH to a Chromium or Chrome binary.`;

/** Where Debian and Ubuntu put the browser. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

let cached: string | undefined;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function find(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv && executable(fromEnv)) return fromEnv;
  for (const candidate of CANDIDATES) if (executable(candidate)) return candidate;
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const candidate = join(dir, name);
      if (executable(candidate)) return candidate;
    }
  }
  return undefined;
}


/**
 * Returns the path of Debian's chromium for playwright-core, installing it when missing.
 *
 * - `CHROMIUM_PATH`, `/usr/bin/chromium` (or another known place, or on PATH): use it.
 * - else, running as root with apt-get: `apt-get update` then `apt-get install -y chromium`.
 * - else: throw, naming the exact install command. Browser tests never skip silently.
 */
export function ensureChromium(): string {
  if (cached) return cached;
  const found = find();
  if (found) return (cached = found);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = (process.env.PATH ?? '/usr/bin').split(delimiter).concat(['/usr/bin']).some((dir) => executable(join(dir, 'apt-get')));
  if (!isRoot || !hasApt) throw new Error(INSTALL_HINT);
  process.stderr.write('[ensureChromium] chromium not found; installing it with apt-get (once)\n');
  // Test files run in parallel workers: wait for another worker's apt-get instead of failing.
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  try {
    aptGet([...lock, 'update'], 'ensureChromium', INSTALL_HINT);
    aptGet([...lock, 'install', '-y', 'chromium'], 'ensureChromium', INSTALL_HINT);
  } catch (error) {
    if (!find()) throw error;
  }
  const installed = find();
  if (!installed) throw new Error(`apt-get installed chromium but no binary was found.\n${INSTALL_HINT}`);
  return (cached = installed);
}

/** The flags every inspector browser test launches chromium with. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
