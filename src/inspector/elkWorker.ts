// elkjs, run in a worker thread: its bundled build lays out on the thread that calls it (no worker
// of its own in Node), and loading it (1.6 MB of generated code) and a first layout take a second
// or more. In a worker neither blocks the process's agents or HTTP requests, and a process that
// never draws a chart never loads elkjs.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { ElkNode } from './elkTypes.js';

// The worker's whole program: it answers `{ id, graph }` with `{ id, result }` or `{ id, error }`.
// Plain CommonJS so it runs as is, from the sources (tests) and from dist alike.
const PROGRAM = `
const { parentPort, workerData } = require('node:worker_threads');
const ELK = require(workerData.elk);
const elk = new ELK();
parentPort.on('message', ({ id, graph }) => {
  elk.layout(graph).then(
    (result) => parentPort.postMessage({ id, result }),
    (error) => parentPort.postMessage({ id, error: String((error && error.message) || error) }),
  );
});
`;

interface Pending {
  resolve(result: ElkNode): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

type Reply = { id: number; result: ElkNode; error?: undefined } | { id: number; error: string };

let worker: Worker | undefined;
const pending = new Map<number, Pending>();
let nextId = 0;

/**
 * Lays `graph` out with elkjs in the shared worker thread. Rejects when elkjs fails, when the worker
 * dies (the next call starts a new one), or after `timeoutMs` (the worker is then replaced).
 */
export function elkLayout(graph: ElkNode, timeoutMs = 30_000): Promise<ElkNode> {
  const thread = worker ?? start();
  const id = ++nextId;
  return new Promise<ElkNode>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the statechart layout took longer than ${timeoutMs} ms`));
      void stop(thread);
    }, timeoutMs);
    pending.set(id, { resolve, reject, timer });
    // Held open only while a layout is in flight.
    thread.ref();
    thread.postMessage({ id, graph });
  });
}

function start(): Worker {
  const require = createRequire(import.meta.url);
  const thread = new Worker(PROGRAM, { eval: true, workerData: { elk: require.resolve('elkjs/lib/elk.bundled.js') } });
  thread.unref();
  thread.on('message', (reply: Reply) => {
    const waiting = pending.get(reply.id);
    if (waiting === undefined) return;
    pending.delete(reply.id);
    clearTimeout(waiting.timer);
    if (pending.size === 0) thread.unref();
    if (reply.error === undefined) waiting.resolve(reply.result);
    else waiting.reject(new Error(`elkjs could not lay the statechart out: ${reply.error}`));
  });
  thread.on('error', (error) => failAll(thread, error));
  thread.on('exit', (code) => failAll(thread, new Error(`the statechart layout worker exited (code ${code})`)));
  worker = thread;
  return thread;
}

async function stop(thread: Worker): Promise<void> {
  failAll(thread, new Error('the statechart layout worker was stopped'));
  await thread.terminate();
}

/** The worker is gone: what waited on it fails, and the next layout starts a new one. */
function failAll(thread: Worker, error: Error): void {
  if (worker !== thread) return;
  worker = undefined;
  for (const [id, waiting] of pending) {
    pending.delete(id);
    clearTimeout(waiting.timer);
    waiting.reject(error);
  }
}
