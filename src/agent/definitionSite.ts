import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where a user's code defined something, or threw: the first frame of a stack past switchyard's own
 * code and Node's, unless it is a package's (`node_modules`), as `<path>:<line>` (no column:
 * a config's TypeScript is compiled on load, which keeps its lines, not its columns). A project split
 * over many files gets errors that name the file (`agents/billing.ts:12`).
 */

/** switchyard's own code: `src/` here, `dist/src/` in the package (which sits in node_modules anyway). */
const OWN = fileURLToPath(new URL('../', import.meta.url));
/** The location of a V8 stack line, `at fn (file:line:col)` or `at [async ]file:line:col` (a path may hold blanks). */
const LOCATION = /^at (?:async )?(?:[^(]*? \()?(.+?):(\d+):\d+\)?$/;
const PACKAGE = /[\\/]node_modules[\\/]/;

/** The first frame of `stack` past switchyard's and Node's, `<absolute path>:<line>`; undefined when it is a package's or there is none. */
export function userFrameOf(stack: string | undefined): string | undefined {
  for (const line of (stack ?? '').split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('at ')) continue;
    const match = LOCATION.exec(trimmed);
    if (match === null) continue;
    const file = match[1]!.startsWith('file://') ? fileURLToPath(match[1]!) : match[1]!;
    if (!isAbsolute(file) || file.startsWith(OWN)) continue;
    // A package's code (a library that threw, or defined the agent) is not the user's to fix; and past
    // it the stack runs on into whoever loaded the module, which would be named wrongly.
    return PACKAGE.test(file) ? undefined : `${file}:${match[2]}`;
  }
  return undefined;
}

const sites = new WeakMap<object, string>();

/** Records where the user's code is defining `definition` (an agent, a pipeline), from the call stack. */
export function recordDefinitionSite(definition: object): void {
  const site = userFrameOf(new Error().stack);
  if (site !== undefined) sites.set(definition, site);
}

/** Where `definition` was defined (`<absolute path>:<line>`), when it was recorded. */
export function definitionSiteOf(definition: object): string | undefined {
  return sites.get(definition);
}

/** ` (<site of first> and <site of second>)` for two definitions that clash, or '' when a site is not known. */
export function bothSites(first: object, second: object): string {
  const a = definitionSiteOf(first);
  const b = definitionSiteOf(second);
  return a === undefined || b === undefined ? '' : ` (${a} and ${b})`;
}
