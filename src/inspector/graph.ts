import { createMachine, type AnyStateMachine } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import { STEP_DONE, STEP_FAILED } from '../../machines/agentMachine.js';
import type { EdgeKind, GraphEdge, GraphNode, MachineGraph } from './chartTypes.js';

export type { EdgeKind, GraphEdge, GraphNode, MachineGraph } from './chartTypes.js';

interface StateNodeLike {
  id: string;
  key: string;
  path: string[];
  type: GraphNode['type'];
  parent?: StateNodeLike;
  initial?: { target: readonly StateNodeLike[] };
  always?: readonly TransitionLike[];
  invoke: readonly { src: unknown }[];
  entry?: readonly unknown[];
}

interface TransitionLike {
  eventType: string;
  target?: readonly StateNodeLike[];
  guard?: unknown;
  delay?: unknown;
}

/**
 * Turns a machine into nodes and edges with `xstate/graph`'s `toDirectedGraph`, plus what it leaves
 * out: eventless `always` transitions (labelled `always`). Delayed transitions are labelled
 * `after <delay>`, invoke results `done` and `error`. Transitions without a target (actions only)
 * are not drawn: they never change the state.
 *
 * @example
 * ```ts
 * const { nodes, edges } = machineGraph(agentMachine);
 * edges.filter((e) => e.source === 'agent.routing' && e.kind === 'always');
 * ```
 */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  let steps = 0;
  const visit = (graphNode: DirectedGraphNode): void => {
    const stateNode = graphNode.stateNode as unknown as StateNodeLike;
    const parent = stateNode.parent;
    // A pipeline's step states are written in the steps' order.
    const stepName = (stateNode.entry ?? []).flatMap(pipelineStepOf)[0];
    nodes.push({
      id: stateNode.id,
      key: parent === undefined ? machine.id : stateNode.key,
      path: [...stateNode.path],
      parent: parent?.id ?? null,
      type: stateNode.type,
      initial: parent?.initial?.target.some((t) => t.id === stateNode.id) ?? false,
      final: stateNode.type === 'final',
      invokes: [...stateNode.invoke.map((i) => (typeof i.src === 'string' ? i.src : 'actor')), ...(stateNode.entry ?? []).flatMap(stepOf)],
      ...(stepName === undefined ? {} : { pipelineStep: { name: stepName, order: ++steps } }),
    });
    let index = 0;
    for (const edge of graphNode.edges) {
      const transition = edge.transition as unknown as TransitionLike;
      if (transition.target === undefined || transition.target.length === 0) continue;
      edges.push(edgeOf(`${stateNode.id}:${index++}`, stateNode.id, edge.target.id, transition));
    }
    for (const transition of stateNode.always ?? []) {
      for (const target of transition.target ?? []) {
        edges.push(edgeOf(`${stateNode.id}:${index++}`, stateNode.id, target.id, transition, 'always'));
      }
    }
    graphNode.children.forEach(visit);
  };
  visit(toDirectedGraph(machine));
  return { id: machine.id, nodes, edges };
}

/**
 * The graph of a serialized machine definition: the `definition` of a `@xstate.actor` inspection
 * event (its config as JSON, functions replaced by `{ type: name }`). Returns `undefined` when it
 * does not describe a state machine (a promise or callback actor's definition is `{ "id": … }`).
 */
export function definitionGraph(definition: string | object): MachineGraph | undefined {
  try {
    const config = typeof definition === 'string' ? (JSON.parse(definition) as unknown) : definition;
    if (config === null || typeof config !== 'object' || !('states' in config)) return undefined;
    return machineGraph(createMachine(config as Parameters<typeof createMachine>[0]));
  } catch {
    return undefined;
  }
}

function edgeOf(id: string, source: string, target: string, t: TransitionLike, always?: 'always'): GraphEdge {
  const guard = guardName(t.guard);
  const { kind, label } = always ? { kind: 'always' as const, label: 'always' } : describe(t);
  return { id, source, target, label, kind, event: always ? '' : t.eventType, ...(guard === undefined ? {} : { guard }) };
}

/** The step an entry action hands a step runner, if it is one. */
function stepOf(action: unknown): string[] {
  const a = action as { type?: unknown; params?: { step?: unknown } } | null;
  return typeof a === 'object' && a !== null && a.type === 'run' && typeof a.params?.step === 'string' ? [a.params.step] : [];
}

/** The pipeline step an entry action hands a step runner (`params.name`), if it is one. */
function pipelineStepOf(action: unknown): string[] {
  const a = action as { type?: unknown; params?: { name?: unknown } } | null;
  return typeof a === 'object' && a !== null && a.type === 'run' && typeof a.params?.name === 'string' ? [a.params.name] : [];
}

function describe(t: TransitionLike): { kind: EdgeKind; label: string } {
  const event = t.eventType;
  // A step runner's report is drawn like an invoke's result.
  if (event === STEP_DONE) return { kind: 'done', label: 'done' };
  if (event === STEP_FAILED) return { kind: 'error', label: 'error' };
  if (event.startsWith('xstate.after.')) {
    const delay = typeof t.delay === 'number' ? `${t.delay}ms` : typeof t.delay === 'string' ? t.delay : event.split('.')[2] ?? '';
    return { kind: 'after', label: `after ${delay}` };
  }
  if (event.startsWith('xstate.done.')) return { kind: 'done', label: 'done' };
  if (event.startsWith('xstate.error.')) return { kind: 'error', label: 'error' };
  return { kind: 'event', label: event };
}

function guardName(guard: unknown): string | undefined {
  if (typeof guard === 'string') return guard;
  if (guard !== null && typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return guard.type;
  if (typeof guard === 'function') return guard.name || 'guard';
  return undefined;
}

