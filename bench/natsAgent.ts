/**
 * The micro-agent task over NATS: a plain client publishes triggers and awaits results; a worker
 * runtime in the same process runs them with every event persisted in the KV bucket. Reported as a
 * ratio to the bare openai loop measured in the same run (target: at least 0.5x at 50 in flight),
 * with NATS messages per run and client CPU per step.
 */
import { bareRunner, measureRunner, type Plan } from './microAgent.js';
import { benchNats } from './nats.js';
import { fixed, median, printTable, startFakeServer, type BenchResult } from './harness.js';

const PLANS: readonly { concurrency: number; runs: number; rounds: number }[] = [
  { concurrency: 1, runs: 150, rounds: 2 },
  { concurrency: 50, runs: 1500, rounds: 3 },
];

export async function natsAgentBench({ quick }: { quick: boolean }): Promise<BenchResult> {
  const server = await startFakeServer();
  try {
    const rows: string[][] = [];
    const summaries = [];
    for (const plan of PLANS) {
      const runs = quick ? Math.max(20, Math.round(plan.runs / 10)) : plan.runs;
      const rounds = quick ? 1 : plan.rounds;
      const ratios: number[] = [];
      const transportRatios: number[] = [];
      const bare: number[] = [];
      const nats: { runsPerSec: number; cpuMsPerRun: number; cpuMsPerStep: number; natsMsgsPerRun: number; peakRssMb: number }[] = [];
      for (let round = 0; round < rounds; round++) {
        const barePlan: Plan = { concurrency: plan.concurrency, rounds: 1, timeBoxMs: 5_000, maxRuns: runs, warmupRuns: Math.min(100, runs) };
        const b = await measureRunner(bareRunner(server.baseURL), barePlan, server);
        // The same bare loop on switchyard's model transport: the ratio to it is NATS + framework alone.
        const t = await measureRunner(bareRunner(server.baseURL, true), barePlan, server);
        const n = await benchNats({ baseURL: server.baseURL, concurrency: plan.concurrency, runs, timeBoxMs: 10_000 });
        bare.push(b.runsPerSec);
        nats.push(n);
        ratios.push(n.runsPerSec / b.runsPerSec);
        transportRatios.push(n.runsPerSec / t.runsPerSec);
      }
      const summary = {
        concurrency: plan.concurrency,
        bareRunsPerSec: median(bare),
        natsRunsPerSec: median(nats.map((n) => n.runsPerSec)),
        ratio: median(ratios),
        ratioSameTransport: median(transportRatios),
        cpuMsPerRun: median(nats.map((n) => n.cpuMsPerRun)),
        cpuMsPerStep: median(nats.map((n) => n.cpuMsPerStep)),
        natsMsgsPerRun: median(nats.map((n) => n.natsMsgsPerRun)),
        peakRssMb: Math.max(...nats.map((n) => n.peakRssMb)),
      };
      summaries.push(summary);
      rows.push([String(plan.concurrency), fixed(summary.bareRunsPerSec, 1), fixed(summary.natsRunsPerSec, 1), `${fixed(summary.ratio, 2)}x`, `${fixed(summary.ratioSameTransport, 2)}x`, fixed(summary.cpuMsPerRun, 2), fixed(summary.cpuMsPerStep, 3), fixed(summary.natsMsgsPerRun, 1), fixed(summary.peakRssMb, 0)]);
    }
    console.log('');
    console.log('## micro-agent over NATS: trigger to result, every event persisted in KV (worker and client in one process)');
    console.log('');
    printTable(
      ['in-flight', 'bare runs/s', 'NATS runs/s', 'ratio vs bare', 'vs bare+transport', 'CPU ms/run', 'CPU ms/step', 'NATS msgs/run', 'peak RSS MB'].map((header) => ({ header, right: true })),
      rows,
    );
    const at50 = summaries.find((s) => s.concurrency === 50)!;
    const pass = at50.ratio >= 0.5;
    console.log(`target: switchyard over NATS >= 0.5x bare at 50 in flight: ${pass ? 'PASS' : 'FAIL'} (${fixed(at50.ratio, 2)})`);
    console.log('CPU is this process (the client and the worker); nats-server and the fake model server are separate processes on the same 2 cores.');
    console.log("vs bare+transport: the ratio to the same bare loop given switchyard's model transport as the SDK's fetch (NATS and framework overhead alone).");
    return { name: 'natsAgent', pass, results: { target: { ratio: 0.5, concurrency: 50, measured: at50.ratio, pass }, summaries } };
  } finally {
    await server.stop();
  }
}
