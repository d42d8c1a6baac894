/**
 * Where switchyard's client CPU goes on the micro-agent task (not part of `npm run bench`):
 *
 *   npx tsx bench/breakdown.ts
 *
 * 1. Layer by layer at 50 in flight, client CPU per run, in two ladders: over HTTP from the bare
 *    loop on switchyard's transport (the floor of the same-transport target), `createOpenAIModel`
 *    alone replaying the five requests a switchyard run sends, the agent's steps and store in a
 *    plain loop, plus the agent machine, plus supervisor and runtime (the real thing); and the same
 *    three framework layers on an in-process instant model (the framework without HTTP).
 * 2. Framework CPU per run over one runtime's lifetime (batches of runs on one runtime): growth
 *    means per-run work that scales with the runs already served.
 * 3. Synchronous costs per run of the pure pieces (zod checks, folds, rendering, hashing, loggers),
 *    each timed in a tight loop and multiplied by how often a run calls it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createActor } from 'xstate';
import { agentMachine } from '../machines/agentMachine.js';
import { promptHash } from '../src/agent/prompt.js';
import { toJson } from '../src/agent/tool.js';
import { silentLogger } from '../src/logger.js';
import { redactJson } from '../src/context/redact.js';
import { renderContext } from '../src/context/renderContext.js';
import type { ModelRequest } from '../src/model/model.js';
import { parseNextStep } from '../src/model/nextStep.js';
import { checkAppend, checkThread, deepFreeze } from '../src/store/checkEvents.js';
import { createMemoryStore } from '../src/store/memoryStore.js';
import { jsonSchema, type Thread, type ThreadEvent } from '../src/thread/events.js';
import { deriveState } from '../src/thread/state.js';
import { fixed, measure, median, printTable, startFakeServer, type FakeServerProcess } from './harness.js';
import { instantBenchModel } from './instantModel.js';
import { bareRunner, benchAgent, measureRunner, memoryStores, switchyardRunner, TASK, type Runner } from './microAgent.js';
import { agentActorRunner, modelOnlyRunner, plainStepsRunner, recordRun } from './variants.js';

const CONCURRENCY = 50;
const ROUNDS = 3;

/**
 * CPU ms of this process's threads other than the main one (V8's GC helpers and optimizing
 * compiler, libuv's pool), from Linux /proc in 10 ms ticks; undefined elsewhere. A run whose
 * objects live longer (promoted, then marked concurrently) or whose code is recompiled shows here.
 */
function backgroundCpuMs(): number | undefined {
  try {
    let ticks = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      if (tid === String(process.pid)) continue;
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks * 10;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// 1. End to end

async function endToEnd(server: FakeServerProcess, requests: readonly ModelRequest[]): Promise<void> {
  // Two ladders, each row adding one layer to the one above: over HTTP (the floor is the bare loop
  // on switchyard's own transport, what the same-transport target compares against) and on the
  // in-process instant model (the framework alone). The bare loop on the SDK's default fetch is informative.
  const runners: Array<[string, Runner, 'http' | 'instant' | 'other']> = [
    ["bare loop on switchyard's transport (floor)", bareRunner(server.baseURL, true), 'http'],
    ['createOpenAIModel alone, same requests', modelOnlyRunner(server.baseURL, requests), 'http'],
    ['steps + memory store, plain loop', plainStepsRunner(server.baseURL), 'http'],
    ['+ agent machine (createAgentActor)', agentActorRunner(server.baseURL), 'http'],
    ['+ supervisor + runtime = switchyard', switchyardRunner('switchyard', server.baseURL, memoryStores), 'http'],
    ['instant model: steps + memory store, plain loop', plainStepsRunner(instantBenchModel), 'instant'],
    ['instant model: + agent machine', agentActorRunner(instantBenchModel), 'instant'],
    ['instant model: + supervisor + runtime', switchyardRunner('switchyard+instantModel', instantBenchModel, memoryStores), 'instant'],
    ["bare loop on the SDK's default fetch", bareRunner(server.baseURL), 'other'],
  ];
  const results = new Map<string, { cpu: number[]; rps: number[]; server: number[]; gc: number[]; background: number[] }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, runner] of round % 2 === 0 ? runners : [...runners].reverse()) {
      // Warm-up included (measure() reports the timed runs only): a rough share, not an exact one.
      const backgroundBefore = backgroundCpuMs();
      const m = await measureRunner(runner, { concurrency: CONCURRENCY, rounds: 1, maxRuns: 1500, timeBoxMs: 4000, warmupRuns: 200 }, server);
      const backgroundAfter = backgroundCpuMs();
      const r = results.get(name) ?? { cpu: [], rps: [], server: [], gc: [], background: [] };
      r.cpu.push(m.cpuMsPerRun);
      r.rps.push(m.runsPerSec);
      r.gc.push(m.gcMsPerRun);
      if (backgroundBefore !== undefined && backgroundAfter !== undefined) r.background.push((backgroundAfter - backgroundBefore) / (m.runs + 200));
      if (m.otherCpuMsPerRun !== undefined) r.server.push(m.otherCpuMsPerRun);
      results.set(name, r);
    }
  }
  const floor = median(results.get(runners[0]![0])!.cpu);
  console.log(`\n1. end to end, ${CONCURRENCY} in flight (medians of ${ROUNDS} rounds; fresh client/runtime per measurement)\n`);
  let previous: { ladder: string; cpu: number } | undefined;
  printTable(
    [
      { header: 'what' },
      { header: 'runs/s', right: true },
      { header: 'CPU ms/run', right: true },
      { header: 'step over previous', right: true },
      { header: 'CPU vs floor', right: true },
      { header: 'GC pause ms/run', right: true },
      { header: 'other threads ms/run', right: true },
      { header: 'server ms/run', right: true },
    ],
    runners.map(([name, , ladder]) => {
      const r = results.get(name)!;
      const cpu = median(r.cpu);
      const delta = previous !== undefined && previous.ladder === ladder ? `${cpu - previous.cpu >= 0 ? '+' : ''}${fixed(cpu - previous.cpu, 2)}` : '';
      previous = { ladder, cpu };
      // GC pauses are observed on the event loop's turns: a run on the instant model never yields to it.
      const gc = ladder === 'instant' ? '-' : fixed(median(r.gc), 2);
      const background = r.background.length === 0 ? '-' : fixed(median(r.background), 2);
      return [name, fixed(median(r.rps), 0), fixed(cpu, 2), delta, `${fixed(cpu / floor, 2)}x`, gc, background, fixed(median(r.server), 2)];
    }),
  );
  console.log(
    '\nother threads: CPU of the threads besides the main one (V8\'s GC helpers and optimizing compiler), ' +
      'part of CPU ms/run, warm-up runs included. It grows when more of a run outlives a scavenge (promoted, ' +
      'then marked) and when optimized code is thrown away and compiled again.',
  );
}

// ---------------------------------------------------------------------------------------------
// 2. Lifetime of one runtime

async function lifetime(): Promise<void> {
  const runner = switchyardRunner('switchyard+instantModel', instantBenchModel, memoryStores);
  const { run, close } = await runner.prepare();
  const rows: string[][] = [];
  let served = 0;
  for (let batch = 0; batch < 6; batch++) {
    const m = await measure({ concurrency: CONCURRENCY, maxRuns: 1000, timeBoxMs: 20_000, run });
    rows.push([`${served + 1}..${served + m.runs}`, fixed(m.runsPerSec, 0), fixed(m.cpuMsPerRun, 3), fixed(m.peakRssMb, 0)]);
    served += m.runs;
  }
  await close();
  console.log(`\n2. framework CPU over one runtime's lifetime (instant model, ${CONCURRENCY} in flight, batches of 1000 runs)\n`);
  printTable([{ header: 'runs served' }, { header: 'runs/s', right: true }, { header: 'CPU ms/run', right: true }, { header: 'peak RSS MB', right: true }], rows);
}

// ---------------------------------------------------------------------------------------------
// 3. Synchronous pieces

/** Mean µs per call of `fn` over a time-boxed tight loop (after a warm-up). */
function perCallUs(fn: (i: number) => unknown, budgetMs = 300): number {
  for (let i = 0; i < 200; i++) fn(i);
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budgetMs) {
    for (let i = 0; i < 50; i++) fn(calls++);
    now = performance.now();
  }
  return ((now - start) * 1000) / calls;
}

async function pieces(thread: Thread, requests: readonly ModelRequest[]): Promise<void> {
  const events = thread.events;
  const n = events.length;
  const prefixes = events.map((_, i) => ({ ...thread, events: events.slice(0, i + 1) }));
  const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
  const logger = silentLogger();
  const appends: ThreadEvent[][] = [];
  // The appends of a run: [decision], [tool_call], [tool_result] four times, then [decision, final].
  for (let i = 1; i < n; ) {
    const e = events[i]!;
    const next = events[i + 1];
    if (e.type === 'decision' && next?.type === 'final') {
      appends.push([e, next]);
      i += 2;
    } else {
      appends.push([e]);
      i += 1;
    }
  }
  const system = requests[requests.length - 1]!.system;
  const add = benchAgent.toolsByName.get('add')!;
  const decisionEvents = events.filter((e) => e.type === 'decision');
  const output = { toolCall: { name: 'add', arguments: '{"a":3,"b":1}' }, usage: { prompt: 1, completion: 1 }, model: 'm' };

  const items: Array<{ what: string; where: string; perRun: number; us: number }> = [];
  const add1 = (what: string, where: string, perRun: number, fn: (i: number) => unknown): void => {
    items.push({ what, where, perRun, us: perCallUs(fn) });
  };
  let k = 0;
  add1('checkAppend (zod eventSchema) of one append', 'store/checkEvents.ts checkAppend', appends.length, () => {
    const batch = appends[k++ % appends.length]!;
    return checkAppend(thread.id, batch[0]!.seq - 1, batch);
  });
  add1('checkThread (zod) of the input event', 'store/checkEvents.ts checkThread', 1, () => checkThread({ ...thread, events: [events[0]!] }));
  const copies = Array.from({ length: 64 }, () => clone(events));
  add1('deepFreeze of one event', 'store/checkEvents.ts deepFreeze', n, (i) => deepFreeze(copies[i % 64]![i % n]));
  add1('deriveState of a whole prefix (avg length)', 'thread/state.ts deriveState', 1, (i) => deriveState(prefixes[i % n]!.events));
  add1('renderContext (blocks cached)', 'context/renderContext.ts', 5, (i) => renderContext(benchAgent, prefixes[[0, 3, 6, 9, 12][i % 5]!]!));
  add1('prompt render', 'agent/prompt.ts render', 5, () =>
    benchAgent.prompt.render({ agent: 'bench', description: benchAgent.description, tools: benchAgent.tools.map((t) => `- ${t.name}: ${t.description}`).join('\n'), context: 'x' }),
  );
  add1('promptHash (sha256 of the prompt)', 'agent/prompt.ts promptHash', 5, () => promptHash(system));
  add1('tool.parse (zod) of add args', 'agent/tool.ts parse', 9, () => add.parse({ a: 3, b: 1 }));
  add1('toJson (JSON round trip) + redactJson of args', 'agent/decideStep.ts', 5, () => redactJson(toJson({ a: 3, b: 1 }), []));
  add1('parseNextStep', 'model/nextStep.ts', 5, () => parseNextStep(output));
  add1('jsonSchema.safeParse of the input (launch)', 'runtime/runtime.ts launch', 1, () => jsonSchema.safeParse(TASK));
  add1('randomUUID (thread id)', 'runtime/runtime.ts launch', 1, () => randomUUID());
  add1('logger.child (pino)', 'supervisor spawn + executeStep', 5, () => logger.child({ threadId: 'th_x', agent: 'bench' }));
  add1('new AbortController()', 'xstate fromPromise, steps, openaiModel, SDK', 28, () => new AbortController());
  add1('sha256 (node:crypto createHash)', 'steps.ts requestIdFor/backoffDelay', 0, () => createHash('sha256').update('x').digest('hex'));
  add1('new Date().toISOString()', 'steps.ts appendEvents', 14, () => new Date().toISOString());
  add1('decision events: JSON.stringify', 'reference', decisionEvents.length, (i) => JSON.stringify(decisionEvents[i % decisionEvents.length]));
  add1('createActor(agentMachine) + start + stop', 'xstate (per run; no steps)', 1, () => {
    const actor = createActor(agentMachine, { input: { agent: benchAgent, thread: prefixes[n - 1]!, deps: { model: instantBenchModel(), store: createMemoryStore(), clock: { now: Date.now, setTimeout, clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout) }, logger } } });
    actor.start();
    actor.stop();
  });

  console.log(`\n3. synchronous pieces (a run has ${n} events, ${appends.length} appends, 5 decisions)\n`);
  printTable(
    [{ header: 'piece' }, { header: 'where' }, { header: 'µs/call', right: true }, { header: 'calls/run', right: true }, { header: 'µs/run', right: true }],
    items
      .sort((a, b) => b.us * b.perRun - a.us * a.perRun)
      .map((it) => [it.what, it.where, fixed(it.us, 2), String(it.perRun), fixed(it.us * it.perRun, 1)]),
  );
  console.log(
    '\nTight loops keep code and data in cache: these are lower bounds. With 50 runs interleaved the same ' +
      'code costs several times more per call (compare section 1), and its garbage is collected there too.',
  );
}

// ---------------------------------------------------------------------------------------------

const server = await startFakeServer();
try {
  const { requests, thread } = await recordRun(server.baseURL);
  const sizes = requests.map((r) => r.system.length + r.context.length + JSON.stringify(r.tools).length);
  console.log(`a switchyard run sends 5 requests; system+context+tools chars per request: ${sizes.join(', ')}`);
  await endToEnd(server, requests);
  await lifetime();
  await pieces(thread, requests);
} finally {
  await server.stop();
}
