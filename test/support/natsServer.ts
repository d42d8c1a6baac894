import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ensureNatsServer } from './ensureNatsServer.js';

/** A nats-server started by a test. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (a temporary directory). */
  readonly storeDir: string;
  /** The server name (`-n`). */
  readonly name: string;
  /** SIGTERM, wait for exit, remove the store directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (a crash) and wait for exit; the store directory stays so `restart()` can recover it. */
  kill(): Promise<void>;
  /**
   * Stops (SIGTERM) if running, then starts again on the same port and store directory; with
   * `emptyStore`, its JetStream data is removed first (a server that comes back with none).
   */
  restart(options?: { emptyStore?: boolean }): Promise<void>;
}

/** Options of {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** @default true */
  jetstream?: boolean;
  /** @default a free port on 127.0.0.1 */
  port?: number;
  /** @default a new temporary directory */
  storeDir?: string;
  /** @default `n-<port>` */
  name?: string;
  /** Join a cluster: this server's route port, the cluster's name and the other servers' routes. */
  cluster?: { name: string; port: number; routes: string[] };
  /**
   * How long to wait for the server to be ready.
   * @default 10000
   */
  readyTimeoutMs?: number;
  /**
   * The server's `max_payload` in bytes (written to a config file in the store directory, which the
   * server is started with): a small one keeps the payloads of size-limit tests small.
   * @default the server's own (1 MB)
   */
  maxPayload?: number;
  /**
   * Require clients to authenticate: a user and password (`--user`, `--pass`) or a token (`--auth`).
   * @default none
   */
  auth?: { user: string; password: string } | { token: string };
  /** Lines of the server's config file (decentralized auth, say), written to the store directory. @default none */
  config?: string;
}

/** Three (or N) clustered servers. */
export interface NatsClusterHandle {
  readonly servers: NatsServerHandle[];
  /** Every server's client URL. */
  readonly urls: string[];
  /** Stops every server. */
  stop(): Promise<void>;
}

const STDERR_KEEP = 16 * 1024;
const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHandlersInstalled = false;

/** Kills every server this process started and removes their directories (sync: runs at exit). */
function cleanupAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.once('exit', cleanupAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupAll();
      // When nobody else handles the signal, restore its default effect (terminate).
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

/** Reserves `count` distinct free TCP ports on 127.0.0.1 (bind port 0, read, release). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected server address');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Resolves when a TCP connection to 127.0.0.1:port succeeds. */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts `nats-server -a 127.0.0.1 -p <port> -js -sd <dir>` and resolves once it accepts
 * connections (its log says "Server is ready" and a TCP connect succeeds), within
 * `readyTimeoutMs`; otherwise rejects with its stderr. Every server is killed, and its directory
 * removed, when the test process exits.
 */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = ensureNatsServer();
  installExitHandlers();
  const port = options.port ?? (await freePorts(1))[0]!;
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'switchyard-nats-'));
  tempDirs.add(storeDir);
  const name = options.name ?? `n-${port}`;
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const args = ['-a', '127.0.0.1', '-p', String(port), '-n', name];
  if (options.maxPayload !== undefined || options.config !== undefined) {
    // No command-line flag sets these; the flags still override the rest of the file.
    const config = join(storeDir, 'nats.conf');
    writeFileSync(config, `${options.maxPayload === undefined ? '' : `max_payload: ${options.maxPayload}\n`}${options.config ?? ''}`);
    args.push('-c', config);
  }
  if (options.auth !== undefined) {
    if ('token' in options.auth) args.push('--auth', options.auth.token);
    else args.push('--user', options.auth.user, '--pass', options.auth.password);
  }
  if (options.jetstream ?? true) args.push('-js', '-sd', storeDir);
  if (options.cluster) {
    args.push(
      '--cluster',
      `nats://127.0.0.1:${options.cluster.port}`,
      '--cluster_name',
      options.cluster.name,
      '--routes',
      options.cluster.routes.join(','),
    );
  }

  let child: ChildProcess | undefined;
  let removed = false;

  async function spawnServer(): Promise<void> {
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    let stderr = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP);
    });
    const deadline = Date.now() + readyTimeoutMs;
    const failure = (why: string): Error =>
      new Error(`nats-server on port ${port} ${why}\ncommand: ${binary} ${args.join(' ')}\nstderr:\n${stderr}`);
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw failure(`exited (${proc.exitCode ?? proc.signalCode}) before it was ready`);
      }
      if (stderr.includes('Server is ready') && (await canConnect(port))) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        await waitForExit(proc);
        throw failure(`was not ready within ${readyTimeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async function signal(sig: NodeJS.Signals): Promise<void> {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    await waitForExit(proc);
  }

  await spawnServer();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    name,
    async stop() {
      await signal('SIGTERM');
      if (!removed) {
        removed = true;
        rmSync(storeDir, { recursive: true, force: true });
        tempDirs.delete(storeDir);
      }
    },
    kill: () => signal('SIGKILL'),
    async restart(restartOptions = {}) {
      if (removed) throw new Error('cannot restart a stopped nats-server: its store was removed');
      await signal('SIGTERM');
      // The server keeps its JetStream data in `<store dir>/jetstream`; the config file stays.
      if (restartOptions.emptyStore === true) rmSync(join(storeDir, 'jetstream'), { recursive: true, force: true });
      await spawnServer();
    },
  };
}

/**
 * Starts `size` clustered servers on loopback (JetStream each in its own directory) and resolves
 * once JetStream has a meta leader and all peers (see {@link waitForJetStream}), within
 * `readyTimeoutMs`.
 */
export async function startNatsCluster(size = 3, options: { readyTimeoutMs?: number } = {}): Promise<NatsClusterHandle> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const ports = await freePorts(size * 2);
  const clientPorts = ports.slice(0, size);
  const routePorts = ports.slice(size);
  const clusterName = `switchyard-test-${clientPorts[0]}`;
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`);
  const servers: NatsServerHandle[] = [];
  try {
    for (let i = 0; i < size; i++) {
      servers.push(
        await startNatsServer({
          port: clientPorts[i]!,
          name: `n${i + 1}-${clientPorts[i]}`,
          cluster: { name: clusterName, port: routePorts[i]!, routes: routes.filter((_, j) => j !== i) },
          readyTimeoutMs,
        }),
      );
    }
    const urls = servers.map((s) => s.url);
    await waitForJetStream(urls, size, readyTimeoutMs);
    return {
      servers,
      urls,
      async stop() {
        await Promise.all(servers.map((s) => s.stop()));
      },
    };
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    throw error;
  }
}

/**
 * Polls until JetStream has a meta leader (an account info request succeeds) and every peer has
 * joined (a probe stream with `replicas` replicas can be placed; it is deleted again).
 */
async function waitForJetStream(urls: string[], replicas: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probe = `READY_PROBE_${process.pid}`;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const nc = await connect({ servers: urls, timeout: 1_000 }).catch((error: unknown) => {
      lastError = error;
      return undefined;
    });
    if (nc) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await jsm.getAccountInfo();
        await jsm.streams.add({ name: probe, subjects: [`_ready_probe.${process.pid}`], num_replicas: replicas, storage: StorageType.Memory });
        await jsm.streams.delete(probe);
        return;
      } catch (error) {
        lastError = error;
      } finally {
        await nc.close();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`JetStream cluster at ${urls.join(', ')} was not ready within ${timeoutMs} ms: ${String(lastError)}`);
}
