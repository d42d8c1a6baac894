// The inspector page's static files (src/inspector/ui, copied next to the compiled code in dist by
// scripts/copyAssets.mjs), read once and served from memory.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The page's path. */
export const INSPECTOR_PAGE_PATH = '/inspector';
/** The page's path with a trailing slash: a redirect to {@link INSPECTOR_PAGE_PATH}. */
export const INSPECTOR_SLASHED_PATH = '/inspector/';
/** Where the page's styles and modules are served: `/inspector/ui/<file>`. */
export const INSPECTOR_ASSETS_PATH = '/inspector/ui';

/** One file, ready to send. */
export interface Asset {
  readonly body: string;
  readonly type: string;
}

/** The page and its files by path, or why they could not be read. */
export interface Assets {
  readonly files: ReadonlyMap<string, Asset>;
  readonly error?: string;
}

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
};

let loaded: Assets | undefined;

/** The page (`/inspector`, from `index.html`) and every `.css` and `.js` file beside it. Read once. */
export function inspectorAssets(): Assets {
  loaded ??= read(new URL('./ui/', import.meta.url));
  return loaded;
}

function read(dir: URL): Assets {
  const files = new Map<string, Asset>();
  try {
    for (const name of readdirSync(dir).sort()) {
      const type = TYPES[name.slice(name.lastIndexOf('.') + 1)];
      if (type === undefined) continue;
      const body = readFileSync(new URL(name, dir), 'utf8');
      files.set(name === 'index.html' ? INSPECTOR_PAGE_PATH : `${INSPECTOR_ASSETS_PATH}/${name}`, { body, type });
    }
  } catch (error) {
    return { files, error: `the inspector's files could not be read from ${fileURLToPath(dir)}: ${(error as Error).message}` };
  }
  if (!files.has(INSPECTOR_PAGE_PATH)) return { files, error: `the inspector's index.html is missing from ${fileURLToPath(dir)} (npm run build copies it)` };
  return { files };
}
