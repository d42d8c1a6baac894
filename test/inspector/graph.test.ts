import { describe, expect, it } from 'vitest';
import { createMachine, type AnyStateMachine } from 'xstate';
import { bugfix } from '../../agents/bugfix/index.js';
import { agentMachine, agentMachineFor } from '../../machines/agentMachine.js';
import { createPipelineMachine } from '../../machines/pipelineMachine.js';
import { supervisorMachine } from '../../machines/supervisorMachine.js';
import { definitionGraph, machineGraph, type MachineGraph } from '../../src/inspector/graph.js';
import { elkLayout } from '../../src/inspector/elkWorker.js';
import { layoutGraph, type NodeBox } from '../../src/inspector/layout.js';
import { serializeDefinition } from '../../src/inspector/summaries.js';
import { geometryProblems, layoutShapes } from './chartGeometry.js';
import { judgedAgent } from './inspectorFixture.js';

const AGENT_STATES = Object.keys(agentMachine.root.states);

describe('machineGraph', () => {
  const graph = machineGraph(agentMachine);
  const edgesFrom = (key: string) => graph.edges.filter((e) => e.source === `agent.${key}`);

  it('has a node for every state of the agent machine, and the root', () => {
    expect(AGENT_STATES.length).toBeGreaterThanOrEqual(16);
    expect(graph.nodes.map((n) => n.key).sort()).toEqual([...AGENT_STATES, 'agent'].sort());
    const root = graph.nodes.find((n) => n.parent === null)!;
    expect(root).toMatchObject({ id: 'agent', type: 'compound', path: [] });
    expect(graph.nodes.find((n) => n.key === 'routing')).toMatchObject({ initial: true, parent: 'agent', path: ['routing'], type: 'atomic' });
    expect(graph.nodes.filter((n) => n.final).map((n) => n.key).sort()).toEqual(['cancelled', 'done', 'failed', 'stopped']);
    expect(graph.nodes.find((n) => n.key === 'deciding')!.invokes).toEqual(['decide']);
  });

  it('draws the eventless always transitions out of routing, with their guards', () => {
    const always = edgesFrom('routing');
    expect(always.every((e) => e.kind === 'always' && e.label === 'always' && e.event === '')).toBe(true);
    expect(always.map((e) => e.target)).toEqual(
      ['done', 'failed', 'cancelled', 'pausing', 'paused', 'escalated', 'awaitingHuman', 'backingOff', 'executing', 'prefetching', 'deciding'].map(
        (k) => `agent.${k}`,
      ),
    );
    expect(always.find((e) => e.target === 'agent.awaitingHuman')!.guard).toBe('isAwaitingHuman');
    expect(always.find((e) => e.target === 'agent.deciding')!.guard).toBeUndefined();
  });

  it('draws the delayed transition out of backingOff as "after backoff"', () => {
    expect(edgesFrom('backingOff')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ target: 'agent.routing', kind: 'after', label: 'after backoff', event: 'xstate.after.backoff.agent.backingOff' }),
        expect.objectContaining({ target: 'agent.pausing', kind: 'event', label: 'PAUSE' }),
      ]),
    );
  });

  it('labels invoke results done and error, events by their type, and skips targetless transitions', () => {
    // The hot loop goes straight to executing or done when routing would; anything else through routing.
    expect(edgesFrom('deciding').map((e) => [e.label, e.target])).toEqual([
      ['done', 'agent.executing'],
      ['done', 'agent.done'],
      ['done', 'agent.routing'],
      ['error', 'agent.stopped'],
    ]);
    expect(edgesFrom('awaitingHuman').map((e) => [e.label, e.target])).toEqual([
      ['RESPOND', 'agent.responding'],
      ['PAUSE', 'agent.pausing'],
    ]);
    // The root's CANCEL goes to cancelling from anywhere; its targetless PAUSE changes no state.
    expect(graph.edges.filter((e) => e.source === 'agent')).toEqual([expect.objectContaining({ target: 'agent.cancelling', label: 'CANCEL' })]);
    expect(new Set(graph.edges.map((e) => e.id)).size).toBe(graph.edges.length);
  });

  it('draws nested and parallel states with paths', () => {
    const nested = createMachine({
      id: 'job',
      initial: 'queued',
      states: {
        queued: { on: { START: 'running' }, after: { 5000: 'expired' } },
        running: { type: 'parallel', states: { work: { initial: 'a', states: { a: { always: 'b' }, b: {} } }, watch: {} }, onDone: 'finished' },
        expired: { type: 'final' },
        finished: { type: 'final' },
      },
    });
    const g = machineGraph(nested);
    expect(g.nodes.find((n) => n.id === 'job.running.work.b')).toMatchObject({ path: ['running', 'work', 'b'], parent: 'job.running.work' });
    expect(g.nodes.find((n) => n.id === 'job.running')!.type).toBe('parallel');
    expect(g.edges).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source: 'job.queued', target: 'job.expired', label: 'after 5000ms', kind: 'after' }),
        expect.objectContaining({ source: 'job.running.work.a', target: 'job.running.work.b', kind: 'always' }),
        expect.objectContaining({ source: 'job.running', target: 'job.finished', kind: 'done' }),
      ]),
    );
  });
});

describe('definitionGraph', () => {
  it('rebuilds the same graph from the definition an actor publishes', () => {
    const definition = serializeDefinition(agentMachine.config)!;
    expect(definitionGraph(definition)).toEqual(machineGraph(agentMachine));
    expect(definitionGraph(serializeDefinition(supervisorMachine.config)!)).toEqual(machineGraph(supervisorMachine));
  });

  it('is undefined for what is not a machine', () => {
    expect(definitionGraph('{"id":"0.agent.deciding"}')).toBeUndefined();
    expect(definitionGraph('not json')).toBeUndefined();
  });
});

describe('layoutGraph', () => {
  const nested = createMachine({
    id: 'n',
    initial: 'a',
    states: {
      a: { on: { GO: 'b', SKIP: 'c' } },
      b: { initial: 'x', states: { x: { on: { N: 'y', LOOP: 'x' } }, y: { type: 'final' } }, onDone: 'c' },
      c: { type: 'parallel', states: { p: { initial: 'p1', states: { p1: { on: { P: 'p2' } }, p2: {} } }, q: {} }, on: { BACK: 'a' } },
    },
  });
  const machines: [string, AnyStateMachine][] = [
    ['the agent machine', agentMachine],
    ['the supervisor', supervisorMachine],
    ['the bugfix pipeline', createPipelineMachine(bugfix)],
    ['an agent with steps of its author', agentMachineFor(judgedAgent())],
    ['nested, parallel and self-looping states', nested],
  ];

  async function check(graph: MachineGraph, direction?: 'RIGHT' | 'DOWN') {
    const layout = await layoutGraph(graph, direction ? { direction } : {});
    const boxes = new Map(layout.boxes.map((b) => [b.id, b]));
    expect([...boxes.keys()].sort()).toEqual(graph.nodes.map((n) => n.id).sort());
    for (const box of layout.boxes) expect(Number.isFinite(box.x + box.y + box.width + box.height), box.id).toBe(true);
    expect(geometryProblems(layoutShapes(layout), graph)).toEqual([]);
    // Every transition is drawn, once, from its source's box to its target's.
    expect(layout.routes.flatMap((r) => r.edges).sort()).toEqual(graph.edges.map((e) => e.id).sort());
    for (const route of layout.routes) {
      expect(route.points.length, route.id).toBeGreaterThanOrEqual(2);
      const end = route.points[route.points.length - 1]!;
      expect(onBorder(end, boxes.get(route.target)!), `${route.id} ends on ${route.target}`).toBe(true);
      if (route.kind !== 'initial' && route.source !== graph.nodes.find((n) => n.parent === null)!.id) {
        expect(onBorder(route.points[0]!, boxes.get(route.source)!), `${route.id} starts on ${route.source}`).toBe(true);
      }
    }
    return layout;
  }

  it.each(machines)('lays out %s with no two boxes or labels overlapping', async (_name, machine) => {
    await check(machineGraph(machine));
  });

  it('is deterministic, and lays out top to bottom too', async () => {
    const graph = machineGraph(agentMachine);
    expect(await layoutGraph(graph)).toEqual(await layoutGraph(graph));
    await check(graph, 'DOWN');
    await check(machineGraph(nested), 'DOWN');
  });

  it('reads the agent machine left to right: routing first, the hub every step returns to', async () => {
    const layout = await check(machineGraph(agentMachine));
    const box = (key: string) => layout.boxes.find((b) => b.id === `agent.${key}`)!;
    for (const key of AGENT_STATES.filter((k) => k !== 'routing')) expect(box(key).x, key).toBeGreaterThan(box('routing').x);
    expect(box('stopped').x).toBeGreaterThan(box('responding').x);
    // A step's report goes back to routing: drawn from the step to routing, though laid out the other way.
    const back = layout.routes.find((r) => r.id === 'agent.deciding->agent.routing')!;
    expect(back).toMatchObject({ kind: 'done', label: expect.objectContaining({ text: 'done' }) });
    expect(back.points[0]!.x).toBeGreaterThan(back.points[back.points.length - 1]!.x);
    // Routing only routes: its box says so, and its many lines carry no label (their guards are in tooltips).
    expect(box('routing').caption?.text).toBe('eventless');
    const fromRouting = layout.routes.filter((r) => r.source === 'agent.routing');
    expect(fromRouting.every((r) => r.label === undefined)).toBe(true);
    expect(fromRouting.find((r) => r.target === 'agent.awaitingHuman')!.guards).toEqual(['isAwaitingHuman']);
    // The machine's CANCEL, from any state, comes from the machine's frame.
    expect(layout.routes.find((r) => r.source === 'agent' && r.target === 'agent.cancelling')!.label?.text).toBe('CANCEL');
    expect(box('deciding').caption?.text).toBe('decide');
  });

  it('draws the states an agent’s author added, with the eventless routing into them', async () => {
    const machine = agentMachineFor(judgedAgent());
    const layout = await check(machineGraph(machine));
    const box = (key: string) => layout.boxes.find((b) => b.id === `agent:judged.${key}`);
    for (const key of ['pace', 'no_devil', 'wait_for_a_while']) expect(box(key)?.caption?.text, key).toBe('custom step');
    expect(box('sleeping')).toBeDefined();
    expect(layout.routes.some((r) => r.source === 'agent:judged.routing' && r.target === 'agent:judged.no_devil')).toBe(true);
    expect(layout.boxes.find((b) => b.container)!.title.text).toBe(`agent:judged · ${machineGraph(machine).nodes.length - 1} states`);
  });

  it('numbers a pipeline’s steps in their order, in the graph and under each step’s name (QA22 inspector #7)', async () => {
    const graph = machineGraph(createPipelineMachine(bugfix));
    const steps = graph.nodes.filter((n) => n.pipelineStep !== undefined).map((n) => [n.key, n.pipelineStep]);
    expect(steps).toEqual([
      ['step_triage', { name: 'triage', order: 1 }],
      ['step_plan', { name: 'plan', order: 2 }],
      ['step_ship', { name: 'ship', order: 3 }],
      ['step_deploy', { name: 'deploy', order: 4 }],
    ]);
    expect(graph.nodes.find((n) => n.key === 'finishing')!.pipelineStep).toBeUndefined();
    const layout = await check(graph);
    const caption = (key: string) => layout.boxes.find((b) => b.id === `pipeline:bugfix.${key}`)?.caption?.text;
    expect([caption('step_triage'), caption('step_plan'), caption('step_ship'), caption('step_deploy')]).toEqual(['step 1 · agent', 'step 2 · code', 'step 3 · branch', 'step 4 · agent']);
  });

  it('draws an initial dot in each compound state and frames around children', async () => {
    const layout = await check(machineGraph(nested));
    const initials = layout.routes.filter((r) => r.kind === 'initial').map((r) => [r.source, r.target]);
    expect(initials).toEqual(expect.arrayContaining([['n', 'n.a'], ['n.b', 'n.b.x'], ['n.c.p', 'n.c.p.p1']]));
    // A parallel state's regions are all active: no initial dot.
    expect(initials.some(([source]) => source === 'n.c')).toBe(false);
    expect(layout.boxes.filter((b) => b.container).map((b) => b.id).sort()).toEqual(['n', 'n.b', 'n.c', 'n.c.p']);
    expect(layout.routes.find((r) => r.id === 'n.b.x->n.b.x')!.label?.text).toBe('LOOP');
  });
});

/** Whether a route's end touches a box's border (or lies within a pixel of it). */
function onBorder(p: { x: number; y: number }, box: NodeBox): boolean {
  const near = (a: number, b: number) => Math.abs(a - b) <= 1.5;
  const withinX = p.x >= box.x - 1.5 && p.x <= box.x + box.width + 1.5;
  const withinY = p.y >= box.y - 1.5 && p.y <= box.y + box.height + 1.5;
  return (withinY && (near(p.x, box.x) || near(p.x, box.x + box.width))) || (withinX && (near(p.y, box.y) || near(p.y, box.y + box.height)));
}

describe('the layout checks and the layout worker', () => {
  it('catch overlapping states and labels, and text that leaves its box', () => {
    const graph: MachineGraph = {
      id: 'm',
      nodes: [
        { id: 'm', key: 'm', path: [], parent: null, type: 'compound', initial: false, final: false, invokes: [] },
        { id: 'm.a', key: 'a', path: ['a'], parent: 'm', type: 'atomic', initial: true, final: false, invokes: [] },
        { id: 'm.b', key: 'b', path: ['b'], parent: 'm', type: 'atomic', initial: false, final: false, invokes: [] },
      ],
      edges: [],
    };
    const rect = (x: number, y: number, width = 40, height = 20) => ({ x, y, width, height });
    const problems = geometryProblems(
      {
        states: [
          { id: 'm.a', box: rect(10, 30), drawn: rect(10, 30) },
          { id: 'm.b', box: rect(30, 40), drawn: rect(30, 40, 60) },
        ],
        frames: [{ id: 'm', box: rect(0, 0, 200, 100), title: rect(5, 5, 50, 12) }],
        labels: [
          { id: 'l1', text: 'GO', box: rect(120, 60), drawn: rect(120, 60) },
          { id: 'l2', text: 'STOP', box: rect(130, 65), drawn: rect(130, 65) },
        ],
      },
      graph,
    );
    expect(problems).toEqual([
      expect.stringMatching(/^states m.a .* and m.b .* overlap$/),
      expect.stringMatching(/^labels "GO" .* and "STOP" .* overlap$/),
      'the text of m.b leaves its box',
    ]);
  });

  it('reports a graph elkjs cannot lay out, and goes on laying out the next', async () => {
    await expect(elkLayout({ id: 'root', children: [{ id: 'a', width: 10, height: 10 }], edges: [{ id: 'e', sources: ['a'], targets: ['nowhere'] }] })).rejects.toThrow(
      /elkjs could not lay the statechart out/,
    );
    const next = await layoutGraph(machineGraph(supervisorMachine));
    expect(next.boxes.length).toBe(machineGraph(supervisorMachine).nodes.length);
  });
});
