import type { Hono } from 'hono';
import type { HttpExtension } from '../server/httpServer.js';
import { INSPECTOR_PAGE_PATH, INSPECTOR_SLASHED_PATH, inspectorAssets } from './assets.js';
import { inspectorRoutes, type InspectorRoutes, type InspectorRoutesOptions } from './routes.js';

export { INSPECTOR_ASSETS_PATH, INSPECTOR_PAGE_PATH } from './assets.js';

/**
 * Whether a request path is the inspector page or one of its static files. They are the inspector
 * routes a bearer check should let through: they are static and hold no data; everything the page
 * shows comes from routes that do check the token (the page sends the token it was opened with, `?token=`).
 */
export function isInspectorPage(path: string): boolean {
  return path === INSPECTOR_PAGE_PATH || path === INSPECTOR_SLASHED_PATH || inspectorAssets().files.has(path);
}

/**
 * Mounts the inspector's page and API on an app (the HTTP API's, so the same bearer token and body
 * limit apply) and returns the routes (close them, or abort `options.signal`, on shutdown).
 *
 * @example
 * ```ts
 * const app = createHttpApp(runtime);
 * mountInspector(app, { runtime, bus, signal: shutdown });
 * ```
 */
export function mountInspector(app: Hono, options: InspectorRoutesOptions): InspectorRoutes {
  const routes = inspectorRoutes(options);
  app.route('/', routes);
  return routes;
}

/** Options of {@link inspectorExtension}: the routes' options without what the server supplies. */
export type InspectorExtensionOptions = Omit<InspectorRoutesOptions, 'runtime' | 'signal'>;

/**
 * The inspector as an extension of the HTTP app (`createHttpApp(runtime, { extensions: [...] })`),
 * so `switchyard/server` loads none of it unless a caller asks.
 *
 * @example
 * ```ts
 * const server = await startHttpServer(runtime, { extensions: [inspectorExtension({ bus })] });
 * ```
 */
export function inspectorExtension(options: InspectorExtensionOptions): HttpExtension {
  return {
    publicPaths: [INSPECTOR_PAGE_PATH, INSPECTOR_SLASHED_PATH, ...[...inspectorAssets().files.keys()].filter((path) => path !== INSPECTOR_PAGE_PATH)],
    pages: { inspector: INSPECTOR_PAGE_PATH },
    mount: (app, { runtime, signal }) => mountInspector(app, { ...options, runtime, ...(signal ? { signal } : {}) }),
  };
}
