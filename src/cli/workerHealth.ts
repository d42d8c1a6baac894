import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bounded } from '../clock.js';
import { ConfigError, messageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { errorBody, READY_TIMEOUT_MS, unavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from '../server/errorMapper.js';

/** Options of {@link startWorkerHealth}. */
export interface WorkerHealthOptions {
  /** The address to listen on. */
  readonly host: string;
  /** The port (0 picks a free one). */
  readonly port: number;
  /** Resolves when the worker's store answers (the NATS connection is up and its KV bucket answers). */
  readonly ready: () => Promise<void>;
  /** The worker's logger: an error of the server once it listens (EMFILE on accept) is logged there. */
  readonly logger: Logger;
}

/** The probes' server of a worker. */
export interface WorkerHealth {
  /** `http://<host>:<port>`, the port it got. */
  readonly url: string;
  /** From now on `/ready` answers 503: the worker is stopping. */
  stopping(): void;
  close(): Promise<void>;
}

function reply(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

/**
 * Serves a worker's probes, as `serve` answers them: `GET /health` (liveness: 200 while the
 * process runs, also while its NATS is away, which it waits for) and `GET /ready` (readiness: 200
 * when its store answers, else 503 naming the cause, with `Retry-After`; 503 once it stops). No
 * token (they say nothing of the threads); every other path is 404.
 */
export async function startWorkerHealth(options: WorkerHealthOptions): Promise<WorkerHealth> {
  let stopping = false;
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, errorBody(405, `method ${request.method} is not allowed on ${path} (allowed: GET, HEAD)`), { Allow: 'GET, HEAD' });
    if (path === '/health') return reply(response, 200, { ok: true });
    if (path !== '/ready') return reply(response, 404, errorBody(404, `no route GET ${path} (a worker answers GET /health and GET /ready)`));
    const retry = { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) };
    if (stopping) return reply(response, 503, errorBody(503, 'the worker is stopping'), retry);
    bounded(options.ready(), READY_TIMEOUT_MS).then(
      () => reply(response, 200, { ok: true }),
      (error: unknown) => reply(response, 503, errorBody(503, unavailable(error)), retry),
    );
  });
  await new Promise<void>((resolve, reject) => {
    // A port that is taken (or not ours to take) is the operator's setting, named as such (exit 2).
    const refused = (error: Error): void => reject(new ConfigError(`--health-port: cannot listen on ${options.host}:${options.port}: ${messageOf(error)}`, { cause: error }));
    server.once('error', refused);
    server.listen(options.port, options.host, () => {
      server.off('error', refused);
      resolve();
    });
  });
  // Once listening, an error (an accept that fails: EMFILE) is logged; with no listener it would be
  // an uncaught exception ending the worker. The probes keep answering when it passes.
  server.on('error', (error) => options.logger.error({ err: error }, `health probes: ${messageOf(error)}`));
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    stopping: () => void (stopping = true),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
