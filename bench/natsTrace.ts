/**
 * Counts the NATS messages of the micro-agent task over NATS by kind (not part of `npm run bench`):
 * a spy connection subscribed to `>` sees every message the server routes (publishes, JetStream
 * API requests and their replies, acks), while runs go one at a time.
 *
 *   npx tsx bench/natsTrace.ts [runs=20] [--print]
 *
 * `--print` lists every message of the last run in order.
 */
import { connect, type Msg } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { createOpenAIModel } from '../src/model/openaiModel.js';
import { createNatsNode } from '../src/nats/natsNode.js';
import { startNatsServer } from '../test/support/natsServer.js';
import { printTable, startFakeServer } from './harness.js';
import { benchAgent, TASK } from './microAgent.js';

const PREFIX = 'bench';
const args = process.argv.slice(2);
const runs = Number(args.find((a) => !a.startsWith('--')) ?? '20');
const print = args.includes('--print');

/** A message's kind: its subject with ids and inbox tokens folded. */
function kindOf(msg: Msg): string {
  const s = msg.subject;
  if (s.startsWith('_INBOX.')) return `reply ${msg.data.length > 0 ? new TextDecoder().decode(msg.data.subarray(0, 40)).replace(/"(seq|stream)":[^,}]*/g, '') : '(empty)'}`.slice(0, 50);
  if (s.startsWith('$JS.ACK.')) {
    const body = new TextDecoder().decode(msg.data);
    return `$JS.ACK ${body || '+ACK'}`.slice(0, 40);
  }
  return s
    .replace(/\$JS\.API\.DIRECT\.GET\.[^.]+\..*/, '$JS.API.DIRECT.GET <bucket> <key>')
    .replace(/trg-bench-[a-z0-9-]+/g, '<thread>')
    .replace(/\$KV\.([^.]+)\..*/, '$KV.$1.<key>')
    .replace(/\.results\.\d+/, '.results.<n>');
}

const fake = await startFakeServer();
const server = await startNatsServer();
const worker = await createNatsNode({
  servers: server.url,
  name: 'trace-worker',
  agents: [benchAgent],
  model: createOpenAIModel({ baseURL: fake.baseURL, apiKey: 'bench' }),
  prefix: PREFIX,
  concurrency: 4,
  observe: false,
});
const client = await connect({ servers: server.url, name: 'trace-client' });
/** Counts the socket writes of a connection (nats.js internals: diagnostics only). */
function countWrites(nc: unknown): () => number {
  const transport = (nc as { protocol: { transport: { send(frame: Uint8Array): void } } }).protocol.transport;
  const send = transport.send.bind(transport);
  let writes = 0;
  transport.send = (frame) => {
    writes++;
    send(frame);
  };
  return () => writes;
}
const workerWrites = countWrites(worker.bus.nc);
const spy = await connect({ servers: server.url, name: 'trace-spy' });
try {
  const js = jetstream(client);
  const waiting = new Map<string, () => void>();
  client.subscribe(`${PREFIX}.results.>`, { callback: (_e, msg) => waiting.get(msg.subject)?.() });
  await client.flush();
  const counts = new Map<string, number>();
  const bytes = new Map<string, number>();
  let last: string[] = [];
  let tracing = false;
  spy.subscribe('>', {
    callback: (_e, msg) => {
      if (!tracing) return;
      const kind = kindOf(msg);
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      bytes.set(kind, (bytes.get(kind) ?? 0) + msg.data.length + (msg.headers ? msg.headers.toString().length : 0));
      last.push(`${msg.subject}  ${new TextDecoder().decode(msg.data.subarray(0, 80))}`);
    },
  });
  await spy.flush();
  const stamp = Date.now().toString(36);
  const one = async (index: number): Promise<void> => {
    const replyTo = `${PREFIX}.results.${index}`;
    const done = new Promise<void>((resolve) => waiting.set(replyTo, resolve));
    await js.publish(`${PREFIX}.trigger.bench`, JSON.stringify({ input: TASK, replyTo }), { msgID: `bench-${stamp}-${index}` });
    await done;
  };
  for (let i = 0; i < 5; i++) await one(i); // warm-up, not counted
  await new Promise((r) => setTimeout(r, 300));
  tracing = true;
  const writesBefore = workerWrites();
  for (let i = 5; i < 5 + runs; i++) {
    last = [];
    await one(i);
  }
  // Let the coalesced summaries and the deletions that follow a run arrive.
  await new Promise((r) => setTimeout(r, 300));
  await spy.flush();
  tracing = false;
  const writes = (workerWrites() - writesBefore) / runs;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const totalBytes = [...bytes.values()].reduce((a, b) => a + b, 0);
  printTable(
    [{ header: 'per run', right: true }, { header: 'bytes/run', right: true }, { header: 'kind' }],
    [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => [(n / runs).toFixed(2), ((bytes.get(k) ?? 0) / runs).toFixed(0), k]),
  );
  console.log(
    `total routed messages per run: ${(total / runs).toFixed(1)}, ${(totalBytes / runs / 1024).toFixed(1)} KB (payload and headers); ` +
      `the worker's frames to its socket per run: ${writes.toFixed(1)} (written per turn of the event loop)`,
  );
  if (print) for (const line of last) console.log(line);
} finally {
  await client.close();
  await spy.close();
  await worker.close({ drainMs: 2_000 });
  await server.stop();
  await fake.stop();
}
process.exit(0);
