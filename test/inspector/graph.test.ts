import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { bugfix } from '../../agents/bugfix/index.js';
import { agentMachine } from '../../machines/agentMachine.js';
import { createPipelineMachine } from '../../machines/pipelineMachine.js';
import { supervisorMachine } from '../../machines/supervisorMachine.js';
import { definitionGraph, machineGraph, type MachineGraph } from '../../src/inspector/graph.js';
import { serializeDefinition } from '../../src/inspector/inspection.js';
import { layoutGraph, type NodeBox } from '../../src/inspector/layout.js';

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
    expect(edgesFrom('deciding').map((e) => [e.label, e.target])).toEqual([
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
  const inside = (inner: NodeBox, outer: NodeBox) =>
    inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height;
  const overlap = (a: NodeBox, b: NodeBox) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

  function check(graph: MachineGraph, direction?: 'LR' | 'TB') {
    const layout = layoutGraph(graph, direction ? { direction } : {});
    expect(layoutGraph(graph, direction ? { direction } : {})).toEqual(layout);
    const boxes = new Map(layout.boxes.map((b) => [b.id, b]));
    expect([...boxes.keys()].sort()).toEqual(graph.nodes.map((n) => n.id).sort());
    for (const node of graph.nodes) {
      const box = boxes.get(node.id)!;
      expect(Number.isFinite(box.x + box.y + box.width + box.height)).toBe(true);
      if (node.parent) expect(inside(box, boxes.get(node.parent)!), `${node.id} inside its parent`).toBe(true);
      for (const other of graph.nodes) {
        if (other.id !== node.id && other.parent === node.parent) expect(overlap(box, boxes.get(other.id)!), `${node.id} / ${other.id}`).toBe(false);
      }
    }
    // Every transition is drawn, once.
    expect(layout.paths.flatMap((p) => p.edges).sort()).toEqual(graph.edges.map((e) => e.id).sort());
    for (const p of layout.paths) expect(p.d).toMatch(/^M[\d.-]+,[\d.-]+( [CLQ][\d., -]+)+$/);
    return layout;
  }

  it('lays the agent machine out readably: routing first, finals last, lines merged per pair', () => {
    const graph = machineGraph(agentMachine);
    const layout = check(graph);
    const box = (key: string) => layout.boxes.find((b) => b.id === `agent.${key}`)!;
    for (const key of AGENT_STATES.filter((k) => k !== 'routing')) expect(box(key).x).toBeGreaterThan(box('routing').x);
    for (const final of ['done', 'failed', 'cancelled', 'stopped']) expect(box(final).x).toBeGreaterThan(box('awaitingHuman').x);
    const hub = layout.paths.find((p) => p.id === 'agent.routing|agent.deciding')!;
    expect(hub).toMatchObject({ both: true, label: 'always / done', kind: 'always' });
    expect(layout.width).toBeLessThan(1200);
    expect(layout.height).toBeLessThan(800);
  });

  it('lays out nested, parallel and top-to-bottom charts without overlaps', () => {
    const nested = createMachine({
      id: 'n',
      initial: 'a',
      states: {
        a: { on: { GO: 'b', SKIP: 'c' } },
        b: { initial: 'x', states: { x: { on: { N: 'y' } }, y: { type: 'final' } }, onDone: 'c' },
        c: { type: 'parallel', states: { p: {}, q: {} }, on: { BACK: 'a' } },
      },
    });
    check(machineGraph(nested));
    check(machineGraph(nested), 'TB');
    check(machineGraph(agentMachine), 'TB');
    check(machineGraph(supervisorMachine));
    const pipelineGraph = machineGraph(createPipelineMachine(bugfix));
    check(pipelineGraph);
    expect(definitionGraph(serializeDefinition(createPipelineMachine(bugfix).config)!)).toEqual(pipelineGraph);
  });
});
