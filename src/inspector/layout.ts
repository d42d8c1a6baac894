// Lays a machine's statechart out with elkjs's layered algorithm (the one Stately's visualizer
// uses): compound states as frames around their children, orthogonal lines, and edge labels placed
// as nodes of their own, so no two state boxes and no two labels overlap. elkjs runs in a worker
// thread (elkWorker.ts), started on the first layout.
import type { ElkEdgeSection, ElkExtendedEdge, ElkNode, ElkPoint } from './elkTypes.js';
import type { EdgeRoute, GraphLayout, GraphNode, MachineGraph, NodeBox, Point, TextBox } from './chartTypes.js';
import { elkLayout } from './elkWorker.js';
import { DOT, elkGraph, FINAL_RING, FONT, LINE, PAD, type Direction, type ElkInput, type Line } from './elkGraph.js';

export type { EdgeRoute, GraphLayout, NodeBox, Point, TextBox } from './chartTypes.js';

/** Options of {@link layoutGraph}. */
export interface LayoutOptions {
  /** Layers as columns from left to right (`RIGHT`) or as rows from top to bottom (`DOWN`). @default 'RIGHT' */
  direction?: Direction | undefined;
}

/**
 * Where to draw each state, line and label of `graph`. Deterministic: the same graph always gets
 * the same layout.
 *
 * @example
 * ```ts
 * const layout = await layoutGraph(machineGraph(agentMachine));
 * layout.boxes.find((box) => box.id === 'agent.deciding');
 * ```
 */
export async function layoutGraph(graph: MachineGraph, options: LayoutOptions = {}): Promise<GraphLayout> {
  const input = elkGraph(graph, options.direction);
  const output = await elkLayout(input.root);
  return readLayout(output, input);
}

/** elkjs's answer (absolute coordinates) as the chart's boxes and routes. */
function readLayout(output: ElkNode, input: ElkInput): GraphLayout {
  const boxes: NodeBox[] = [];
  /** The centre of each compound state's initial dot, by the state's id. */
  const dots = new Map<string, Point>();
  const visit = (node: ElkNode): void => {
    const parent = input.dots.get(node.id);
    if (parent !== undefined) dots.set(parent, { x: round((node.x ?? 0) + DOT / 2), y: round((node.y ?? 0) + DOT / 2) });
    const state = input.nodes.get(node.id);
    if (state !== undefined) boxes.push(boxOf(node, state, input));
    for (const child of node.children ?? []) visit(child);
  };
  for (const child of output.children ?? []) visit(child);
  const edges = new Map((output.edges ?? []).map((edge) => [edge.id, edge]));
  const routes = input.lines.map((line) => routeOf(line, edges.get(line.elkId), dots.get(line.source)));
  return { width: Math.ceil(output.width ?? 0), height: Math.ceil(output.height ?? 0), boxes, routes };
}

/** A state's box, its name (and what it runs) placed inside it. */
function boxOf(node: ElkNode, state: GraphNode, input: ElkInput): NodeBox {
  const [x, y, width, height] = [round(node.x ?? 0), round(node.y ?? 0), round(node.width ?? 0), round(node.height ?? 0)];
  const frameTitle = input.titles.get(state.id);
  const container = frameTitle !== undefined;
  if (container) {
    const title: TextBox = { text: frameTitle, x: x + PAD.frame, y: y + 6, width: width - 2 * PAD.frame, height: lineHeight(FONT.title), size: FONT.title };
    return { id: state.id, x, y, width, height, container, title };
  }
  const caption = input.captions.get(state.id);
  const ring = state.final ? FINAL_RING : 0;
  const nameHeight = lineHeight(FONT.name);
  const nameY = caption === undefined ? y + height / 2 - nameHeight / 2 : y + ring + 5;
  const box: NodeBox = { id: state.id, x, y, width, height, container, title: { text: state.key, x, y: round(nameY), width, height: nameHeight, size: FONT.name } };
  if (caption === undefined) return box;
  return { ...box, caption: { text: caption, x, y: round(nameY + nameHeight + 1), width, height: lineHeight(FONT.caption), size: FONT.caption } };
}

/** A line's points and label as elkjs placed them; an initial arrow starts at its dot's centre. */
function routeOf(line: Line, edge: ElkExtendedEdge | undefined, dot: Point | undefined): EdgeRoute {
  const points = pointsOf(edge?.sections ?? []);
  if (line.reversed) points.reverse();
  if (line.kind === 'initial' && dot !== undefined && points.length > 0) points[0] = dot;
  const placed = edge?.labels?.[0];
  const label: TextBox | undefined =
    placed === undefined
      ? undefined
      : { text: line.label, x: round(placed.x ?? 0), y: round(placed.y ?? 0), width: round(placed.width ?? 0), height: round(placed.height ?? 0), size: FONT.label };
  return {
    id: line.kind === 'initial' ? `${line.source}#initial` : `${line.source}->${line.target}`,
    source: line.source,
    target: line.target,
    edges: line.edges.map((e) => e.id),
    kind: line.kind,
    points,
    ...(label === undefined ? {} : { label }),
    guards: [...new Set(line.edges.flatMap((e) => (e.guard === undefined ? [] : [e.guard])))],
  };
}

/** The sections of an edge, joined into one polyline. */
function pointsOf(sections: readonly ElkEdgeSection[]): Point[] {
  const points: ElkPoint[] = [];
  for (const section of sections) {
    if (points.length === 0) points.push(section.startPoint);
    points.push(...(section.bendPoints ?? []), section.endPoint);
  }
  return points.map((p) => ({ x: round(p.x), y: round(p.y) }));
}

function lineHeight(size: number): number {
  return Math.ceil(size * LINE);
}

const round = (n: number): number => Math.round(n * 10) / 10;
