import type { Context } from 'hono';
import { basePath } from 'hono/route';

/**
 * The request's path within the app, without the path the app is mounted under in a host's hono
 * app (`host.route('/agents', app)`, where `c.req.path` is the whole `/agents/inspector`): what the
 * app's own paths (`/`, `/health`, `/inspector`, `/hooks/:agent`) are compared with. hono's
 * `basePath` gives the mount as requested, its parameters filled in (`/tenants/acme/agents` for
 * `/tenants/:tenant/agents`), and `/` at the root.
 */
export function pathInApp(c: Context): string {
  const base = basePath(c);
  return base === '/' ? c.req.path : c.req.path.slice(base.length) || '/';
}
