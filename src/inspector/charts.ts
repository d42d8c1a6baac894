// The statecharts the inspector can draw, each laid out once: the runtime's machines (`agent`,
// `agent:<name>` for agents with steps of their author, `supervisor`, `pipeline:<name>`), machines
// passed in, and definitions other processes published on the bus.
import type { AnyStateMachine } from 'xstate';
import type { Runtime } from '../runtime/runtime.js';
import type { ActorRegistry } from './actorRegistry.js';
import type { GraphLayout, MachineGraph } from './chartTypes.js';
import { definitionGraph, machineGraph } from './graph.js';
import { layoutGraph } from './layout.js';

/** A machine's graph and its layout, as `GET /inspector/api/graph/:machine` answers. */
export interface Chart {
  readonly graph: MachineGraph;
  readonly layout: GraphLayout;
}

/** See {@link createChartSource}. */
export interface ChartSource {
  /** Ids of the machines drawable without a published definition. */
  readonly machines: readonly string[];
  /** The machine that runs each agent's and pipeline's threads. */
  readonly threadMachines: Readonly<Record<string, string>>;
  /** The chart of a machine by id; `undefined` when no machine or definition has that id. */
  chart(id: string): Promise<Chart | undefined>;
}

/** Layouts of published definitions kept (a deploy may change a definition; each version is laid out once). */
const MAX_PUBLISHED = 50;

/** Charts of known machines are laid out once and kept; a failed layout is tried again next time. */
export function createChartSource(runtime: Runtime, extra: Readonly<Record<string, AnyStateMachine>>, registry: ActorRegistry): ChartSource {
  const known = new Map<string, AnyStateMachine>([...runtime.machines, ...Object.entries(extra)]);
  const threadMachines = Object.fromEntries(
    [...runtime.agents.keys(), ...runtime.pipelines.keys()].map((name) => [name, runtime.machineOf(name) ?? name]),
  );
  const charts = new Map<string, Promise<Chart>>();
  const published = new Map<string, Promise<Chart | undefined>>();
  const remember = <T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> => {
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const made = make();
    cache.set(key, made);
    made.catch(() => cache.delete(key));
    return made;
  };
  return {
    machines: [...known.keys()],
    threadMachines,
    chart(id) {
      const machine = known.get(id);
      if (machine !== undefined) return remember(charts, id, () => chartOf(machineGraph(machine)));
      const definition = registry.definition(id);
      if (definition === undefined) return Promise.resolve(undefined);
      while (published.size >= MAX_PUBLISHED) published.delete(published.keys().next().value!);
      return remember(published, definition, async () => {
        const graph = definitionGraph(definition);
        return graph === undefined ? undefined : chartOf(graph);
      });
    },
  };
}

async function chartOf(graph: MachineGraph): Promise<Chart> {
  return { graph, layout: await layoutGraph(graph) };
}
