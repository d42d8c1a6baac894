import { assign, createActor, fromPromise, fromCallback, sendTo, setup, type AnyActorRef } from 'xstate';

type Ctx = { n: number; token: number };
const step = async (n: number) => { await null; return n + 1; };

const invokeMachine = setup({
  types: { context: {} as Ctx },
  actors: { work: fromPromise<number, number>(({ input }) => step(input)) },
}).createMachine({
  context: { n: 0, token: 0 }, initial: 'routing',
  states: {
    routing: { always: [{ guard: ({ context }) => context.n >= 10, target: 'done' }, { guard: ({ context }) => context.n % 2 === 0, target: 'deciding' }, { target: 'executing' }] },
    deciding: { invoke: { src: 'work', input: ({ context }) => context.n, onDone: { target: 'routing', actions: assign({ n: ({ event }) => event.output }) } } },
    executing: { invoke: { src: 'work', input: ({ context }) => context.n, onDone: { target: 'routing', actions: assign({ n: ({ event }) => event.output }) } } },
    done: { type: 'final' },
  },
});

type WEv = { type: 'STEP_DONE'; token: number; n: number } | { type: 'x' };
const workerLogic = fromCallback<{ type: 'RUN'; token: number; n: number }>(({ sendBack, receive }) => {
  receive((cmd) => { step(cmd.n).then((n) => sendBack({ type: 'STEP_DONE', token: cmd.token, n })); });
});
const run = sendTo('worker', ({ context }: { context: Ctx }) => ({ type: 'RUN' as const, token: context.token, n: context.n }));
const workerMachine = setup({
  types: { context: {} as Ctx, events: {} as WEv },
  actors: { worker: workerLogic },
}).createMachine({
  context: { n: 0, token: 0 }, initial: 'routing',
  invoke: { id: 'worker', src: 'worker' },
  on: { STEP_DONE: { guard: ({ context, event }) => event.token === context.token, target: '.routing', actions: assign({ n: ({ event }) => event.n, token: ({ context }) => context.token + 1 }) } },
  states: {
    routing: { always: [{ guard: ({ context }) => context.n >= 10, target: 'done' }, { guard: ({ context }) => context.n % 2 === 0, target: 'deciding' }, { target: 'executing' }] },
    deciding: { entry: run as any },
    executing: { entry: run as any },
    done: { type: 'final' },
  },
});

async function bench(name: string, machine: any, runs: number) {
  const one = () => new Promise<void>((resolve) => { const a = createActor(machine); a.subscribe({ complete: () => resolve() }); a.start(); });
  const t0 = process.cpuUsage(); const w0 = performance.now();
  let i = 0;
  await Promise.all(Array.from({ length: 50 }, async () => { while (i < runs) { i++; await one(); } }));
  const c = process.cpuUsage(t0);
  console.log(name, ((c.user + c.system) / 1000 / runs * 1000).toFixed(1), 'µs CPU/run (10 steps)', ((performance.now() - w0) / runs * 1000).toFixed(1), 'µs wall/run');
}
for (let r = 0; r < 3; r++) { await bench('invoke', invokeMachine, 20000); await bench('worker', workerMachine, 20000); }
