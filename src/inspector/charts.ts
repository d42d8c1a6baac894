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

/** Charts of machine objects, shared by every inspector of the process (machines are built once). */
const laidOut = new WeakMap<AnyStateMachine, Promise<Chart>>();

function chartOfMachine(machine: AnyStateMachine): Promise<Chart> {
  let chart = laidOut.get(machine);
  if (chart === undefined) {
    chart = chartOf(machineGraph(machine));
    laidOut.set(machine, chart);
    // A failed layout is tried again next time.
    chart.catch(() => laidOut.delete(machine));
  }
  return chart;
}

/** Charts are laid out once and kept; a failed layout is tried again next time. */
export function createChartSource(runtime: Runtime, extra: Readonly<Record<string, AnyStateMachine>>, registry: ActorRegistry): ChartSource {
  const known = new Map<string, AnyStateMachine>([...runtime.machines, ...Object.entries(extra)]);
  const threadMachines = Object.fromEntries(
    [...runtime.agents.keys(), ...runtime.pipelines.keys()].map((name) => [name, runtime.machineOf(name) ?? name]),
  );
  /** Charts of definitions other processes published, by the definition itself. */
  const published = new Map<string, Promise<Chart | undefined>>();
  return {
    machines: [...known.keys()],
    threadMachines,
    chart(id) {
      const machine = known.get(id);
      if (machine !== undefined) return chartOfMachine(machine);
      const definition = registry.definition(id);
      if (definition === undefined) return Promise.resolve(undefined);
      let chart = published.get(definition);
      if (chart === undefined) {
        while (published.size >= MAX_PUBLISHED) published.delete(published.keys().next().value!);
        const graph = definitionGraph(definition);
        chart = graph === undefined ? Promise.resolve(undefined) : chartOf(graph);
        published.set(definition, chart);
        chart.catch(() => published.delete(definition));
      }
      return chart;
    },
  };
}

async function chartOf(graph: MachineGraph): Promise<Chart> {
  return { graph, layout: await layoutGraph(graph) };
}
