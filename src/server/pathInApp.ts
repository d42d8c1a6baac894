import type { Context } from 'hono';

/**
 * The request's path within the app, without the path the app is mounted under in a host's hono
 * app (`host.route('/agents', app)`, where `c.req.path` is the whole `/agents/inspector`): what the
 * app's own paths (`/`, `/health`, `/inspector`, `/hooks/:agent`) are compared with. Call it from a
 * middleware the app registered with `app.use('*', ...)`: its `routePath` is `<mount path>/*`,
 * whose segments (a parameter, `/tenants/:tenant/agents`, included) are those to drop.
 */
export function pathInApp(c: Context): string {
  const { routePath, path } = c.req;
  const mount = routePath.endsWith('/*') ? routePath.slice(0, -2) : '';
  const depth = mount.split('/').filter((segment) => segment !== '').length;
  if (depth === 0) return path;
  return `/${path.split('/').slice(depth + 1).join('/')}`;
}
