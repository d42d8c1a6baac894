import { describe, expect, it } from 'vitest';
import { runChaos, type ChaosReport } from './chaosRun.js';

// The distributed path under faults (issue 11): a real nats-server on 127.0.0.1, three worker
// processes, triggers from a stock client, humans answering over NATS, a worker SIGKILLed and
// replaced every few seconds, the server restarted once. SWITCHYARD_CHAOS_RUNS runs more (per
// scenario; the publishing window grows with it).
const RUNS = Number(process.env.SWITCHYARD_CHAOS_RUNS ?? '150');
const PUBLISH_MS = Math.max(12_000, RUNS * 150);
const REST_BOUND_MS = 45_000;
const TIMEOUT_MS = PUBLISH_MS + REST_BOUND_MS + 60_000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function figures(name: string, report: ChaosReport): string {
  return [
    `chaos (${name}): ${report.runs} runs (+${report.badTriggers} bad triggers), ${report.threads} threads, ${(report.durationMs / 1000).toFixed(1)} s`,
    `  faults: ${report.kills} workers SIGKILLed, ${report.serverRestarts} nats-server restart`,
    `  results: ${report.duplicateResults} duplicate final results; time to rest p50 ${percentile(report.timesToRest, 50)} ms, p99 ${percentile(report.timesToRest, 99)} ms, max ${report.timesToRest.at(-1)} ms`,
    `  effects: ${report.effects} ledger lines, ${report.interrupted} interrupted calls asked about, ${report.rerunsAllowed} re-runs a human allowed`,
    `  humans: ${report.desk.answered} requests answered, ${report.desk.cancelled} of them by a cancel (${report.desk.attempts} requests sent); dead letters: ${report.deadLetters}`,
    `  phases (ms from start): ${Object.entries(report.phases).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    ...(report.observed > 0 ? [`  observer on <prefix>.>: ${report.observed} messages seen`] : []),
  ].join('\n');
}

describe('chaos: NATS workers under SIGKILL and a server restart', () => {
  it.each([
    ['plain', false],
    ['with an observer on <prefix>.>', true],
  ])(
    'every trigger gets one thread that comes to rest, with no effect twice unless a human allowed it (%s)',
    async (name, observer) => {
      const report = await runChaos({ runs: RUNS, publishMs: PUBLISH_MS, restBoundMs: REST_BOUND_MS, observer });
      console.log(figures(name, report));
      if (report.violations.length > 0) console.log(`queues:\n${report.queues}\nkept ${report.dir}\n${report.workerLogs.slice(-3_000)}`);
      expect(report.violations).toEqual([]);
      expect(report.kills).toBeGreaterThan(0);
      expect(report.serverRestarts).toBe(1);
      expect(report.timesToRest).toHaveLength(RUNS);
      if (observer) expect(report.observed).toBeGreaterThan(0);
    },
    TIMEOUT_MS,
  );
});
