/**
 * Why a worker stores its reports through JetStream (not part of `npm run bench`): with a stock
 * client and nothing of switchyard, each job of a work queue is answered by a publish to a subject
 * another stream captures, then acknowledged with a confirmed ack (`ackAck`), while nats-server is
 * restarted (SIGTERM) six times. It counts the acknowledged jobs whose answer the stream never got.
 *
 *   npx tsx bench/publishLoss.ts [plain|flush|stored] [jobs=6000]
 *
 * `plain`: a core publish, then the ack (what a worker did before). `flush`: a core publish, a
 * flush (PING/PONG), then the ack. `stored`: a JetStream publish awaited before the ack (what a
 * worker does now); a job whose publish fails is not acknowledged and comes back.
 */
import { AckPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../test/support/natsServer.js';

const mode = process.argv[2] ?? 'plain';
if (mode !== 'plain' && mode !== 'flush' && mode !== 'stored') throw new Error('usage: bench/publishLoss.ts [plain|flush|stored] [jobs]');
const JOBS = Number(process.argv[3] ?? '6000');
const RESTARTS = 6;
const BOUND_MS = 45_000;

const server = await startNatsServer();
try {
  const nc = await connect({ servers: server.url, reconnectTimeWait: 50, reconnectJitter: 0, maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.streams.add({ name: 'JOBS', subjects: ['jobs.>'], storage: StorageType.File });
  await jsm.streams.add({ name: 'ANSWERS', subjects: ['answers.>'], storage: StorageType.File });
  // Streams with data of their own, so that a shutdown has something to close.
  for (let k = 0; k < 10; k++) {
    await jsm.streams.add({ name: `OTHER${k}`, subjects: [`other${k}.>`], storage: StorageType.File });
    for (let j = 0; j < 200; j++) await js.publish(`other${k}.x`, 'x'.repeat(500));
  }
  await jsm.consumers.add('JOBS', { durable_name: 'worker', ack_policy: AckPolicy.Explicit, ack_wait: 2_000_000_000 });
  for (let i = 0; i < JOBS; i++) await js.publish(`jobs.${i}`, String(i));

  const acked = new Set<number>();
  const started = Date.now();
  const consumer = await js.consumers.get('JOBS', 'worker');
  const working = (async () => {
    const messages = await consumer.consume({ max_messages: 20, expires: 1_000 });
    for await (const m of messages) {
      const i = Number(m.string());
      try {
        if (mode === 'stored') await js.publish(`answers.${i}`, String(i), { msgID: `a${i}`, timeout: 2_000 });
        else nc.publish(`answers.${i}`, String(i));
        if (mode === 'flush') await nc.flush();
        if (await m.ackAck({ timeout: 3_000 })) acked.add(i);
      } catch {
        // not acknowledged: the job comes back
      }
      if (acked.size >= JOBS - 5 || Date.now() - started > BOUND_MS) break;
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 700));
  for (let k = 0; k < RESTARTS; k++) {
    await server.restart();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await Promise.race([working, new Promise((resolve) => setTimeout(resolve, BOUND_MS))]);

  let info;
  for (let attempt = 0; attempt < 50 && info === undefined; attempt++) {
    info = await jsm.streams.info('ANSWERS').catch(() => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 200)));
  }
  if (info === undefined) throw new Error('the answers stream did not answer');
  const stored = new Set<number>();
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage('ANSWERS', { seq }).catch(() => null);
    if (m) stored.add(Number(m.string()));
  }
  const lost = [...acked].filter((i) => !stored.has(i));
  console.log(`${mode}: ${acked.size} jobs acknowledged across ${RESTARTS} server restarts, ${lost.length} of them with no stored answer${lost.length > 0 ? ` (jobs ${lost.slice(0, 10).join(', ')}${lost.length > 10 ? ', ...' : ''})` : ''}`);
  await nc.close();
} finally {
  await server.stop();
}
