/**
 * Where the NATS KV store's resume tail comes from (not part of `npm run bench`): times reads of
 * random keys of a 100,000-key bucket on a fresh nats-server, by subject (`kv.get`, what the store
 * does) and by sequence (a direct get of the revision), each pass after the server's 5 s block
 * cache expired, twice over.
 *
 *   npx tsx bench/kvColdReads.ts [keys=100000] [reads=300] [--restart]
 *
 * `--restart` restarts the nats-server (SIGTERM, same store) between the writes and the reads: the
 * first by-subject pass pays the same, so it is the server's first read of each block by key since
 * it started, not a block written in this server's lifetime.
 *
 * On nats-server 2.9 the first by-subject pass pays, for each 4 MB block it touches first, the
 * block's per-subject state as well as the block; later passes pay the block load alone.
 */
import { Kvm } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../test/support/natsServer.js';
import { fixed, percentile, printTable } from './harness.js';

const restart = process.argv.includes('--restart');
const [keysArg = '100000', readsArg = '300'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const keys = Number(keysArg);
const reads = Number(readsArg);
if (!(keys >= 1 && keys <= 1_000_000 && reads >= 1 && reads <= 100_000)) throw new Error('usage: bench/kvColdReads.ts [keys 1..1000000] [reads 1..100000]');

/** nats-server 2.9 keeps a block it read for 5 s; a margin. */
const BLOCK_CACHE_MS = 6_000;
const VALUE = 'x'.repeat(1700); // about a waiting thread's size

const server = await startNatsServer();
let nc = await connect({ servers: server.url, noAsyncTraces: true });
try {
  let kv = await new Kvm(nc).create('cold', { allow_direct: true } as never);
  let next = 0;
  // Key n is written n-th: its sequence is n + 1.
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (next < keys) await kv.put(`k${next++}`, VALUE);
  }));
  if (restart) {
    await nc.close();
    await server.restart();
    nc = await connect({ servers: server.url, noAsyncTraces: true });
    kv = await new Kvm(nc).open('cold');
  }
  const jsm = await jetstreamManager(nc);
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const rows: string[][] = [];
  for (const [pass, by] of [[1, 'subject'], [1, 'sequence'], [2, 'subject'], [2, 'sequence']] as const) {
    await new Promise((resolve) => setTimeout(resolve, BLOCK_CACHE_MS));
    const times: number[] = [];
    for (let i = 0; i < reads; i++) {
      const n = Math.floor(random() * keys);
      const t0 = performance.now();
      if (by === 'subject') await kv.get(`k${n}`);
      else await jsm.direct.getMessage('KV_cold', { seq: n + 1 });
      times.push(performance.now() - t0);
    }
    rows.push([String(pass), by, fixed(percentile(times, 50), 2), fixed(percentile(times, 90), 2), fixed(percentile(times, 99), 2), fixed(Math.max(...times), 2)]);
  }
  printTable(['pass', 'read by', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'].map((header, i) => ({ header, right: i > 1 })), rows);
  console.log(
    `\n${keys.toLocaleString('en')} keys of ${VALUE.length} bytes, ${reads} random reads per pass, one at a time, each pass after ${BLOCK_CACHE_MS / 1000} s idle` +
      `${restart ? ', the nats-server restarted between the writes and the reads' : ''}.`,
  );
} finally {
  await nc.close();
  await server.stop();
}
process.exit(0);
