// A machine graph as elkjs's input: one ELK node per state (compound states hold their children),
// one ELK edge per pair of states a transition joins (labels sized in the chart's font), and an
// initial dot in each compound state. Ids are short and generated, so no state name can clash.
import type { ElkExtendedEdge, ElkNode, ElkOptions } from './elkTypes.js';
import type { EdgeKind, GraphEdge, GraphNode, MachineGraph } from './chartTypes.js';
import { textWidth } from './textWidth.js';

/** Font sizes (px) the chart draws with: the layout measures text at these. */
export const FONT = { name: 12, caption: 9, label: 10, title: 11 } as const;
/** Inner spacing of boxes, label backgrounds and frames. */
export const PAD = { x: 14, label: 4, frame: 12 } as const;
/** The diameter of an initial dot. */
export const DOT = 9;
/** Final states get a second, outer border: this much more on each side. */
export const FINAL_RING = 3;
/** Line height, in font sizes. */
export const LINE = 1.3;

/** How every graph (the machine, each compound state) is laid out: layered, labels as nodes of their own (so they never overlap). */
const LAYERED: ElkOptions = {
  'elk.algorithm': 'layered',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
  'elk.layered.nodePlacement.bk.fixedAlignment': 'BALANCED',
  'elk.layered.spacing.nodeNodeBetweenLayers': '24',
  'elk.layered.spacing.edgeNodeBetweenLayers': '8',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '5',
  'elk.spacing.nodeNode': '12',
  'elk.spacing.edgeNode': '8',
  'elk.spacing.edgeEdge': '5',
  'elk.spacing.edgeLabel': '3',
};

/** The root's own: edges may cross compound states' borders; coordinates come back absolute. */
const ROOT_OPTIONS: ElkOptions = {
  ...LAYERED,
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
  'elk.padding': '[top=0,left=0,bottom=0,right=0]',
};

/** Layers run left to right (`RIGHT`) or top to bottom (`DOWN`). */
export type Direction = 'RIGHT' | 'DOWN';

/** One line between two states: the transitions from `source` to `target`. */
export interface Line {
  readonly elkId: string;
  /** ELK ids of the ends (an initial dot's for an initial arrow). */
  readonly elkSource: string;
  readonly elkTarget: string;
  /** Handed to elkjs from target to source. */
  readonly reversed: boolean;
  readonly source: string;
  readonly target: string;
  readonly edges: readonly GraphEdge[];
  /** `''` for none. */
  readonly label: string;
  readonly kind: EdgeKind | 'initial';
}

/** The ELK input and how to read its ids back. */
export interface ElkInput {
  readonly root: ElkNode;
  /** ELK node id to graph node. */
  readonly nodes: ReadonlyMap<string, GraphNode>;
  /** Initial dots: ELK node id to the id of the compound state holding it. */
  readonly dots: ReadonlyMap<string, string>;
  /** What each atomic state's box says under its name, by state id. */
  readonly captions: ReadonlyMap<string, string>;
  /** Each frame's title, by state id. */
  readonly titles: ReadonlyMap<string, string>;
  readonly lines: readonly Line[];
}

/** Builds elkjs's input for `graph`. */
export function elkGraph(graph: MachineGraph, direction: Direction = 'RIGHT'): ElkInput {
  const elkIdOf = new Map(graph.nodes.map((node, i) => [node.id, `n${i}`]));
  const children = new Map<string | null, GraphNode[]>();
  for (const node of graph.nodes) (children.get(node.parent) ?? children.set(node.parent, []).get(node.parent)!).push(node);
  const eventless = eventlessStates(graph);
  const captions = new Map<string, string>();
  const titles = new Map<string, string>();
  const dots = new Map<string, string>();
  const lines: Line[] = [];
  const build = (node: GraphNode): ElkNode => {
    const id = elkIdOf.get(node.id)!;
    const kids = children.get(node.id) ?? [];
    if (kids.length === 0) {
      const caption = captionOf(node, eventless.has(node.id));
      if (caption !== undefined) captions.set(node.id, caption);
      return { id, ...leafSize(node, caption) };
    }
    const title = titleOf(node, graph);
    titles.set(node.id, title);
    const elkChildren = kids.map(build);
    const initial = kids.find((kid) => kid.initial);
    if (initial !== undefined && node.type !== 'parallel') {
      const dot = `i${dots.size}`;
      dots.set(dot, node.id);
      elkChildren.unshift({ id: dot, width: DOT, height: DOT });
      const line = { elkId: `${dot}e`, elkSource: dot, elkTarget: elkIdOf.get(initial.id)!, reversed: false, edges: [], label: '', kind: 'initial' as const };
      lines.push({ ...line, source: node.id, target: initial.id });
    }
    return { id, layoutOptions: { ...LAYERED, 'elk.direction': direction, ...frameOptions(title) }, children: elkChildren };
  };
  const top = graph.nodes.find((node) => node.parent === null);
  const machine = top === undefined ? [] : [build(top)];
  lines.push(...linesOf(graph, elkIdOf, eventless));
  const edges = lines.map((line): ElkExtendedEdge => {
    const labels = line.label === '' ? [] : [{ id: `${line.elkId}l`, text: line.label, ...labelSize(line.label) }];
    return { id: line.elkId, sources: [line.elkSource], targets: [line.elkTarget], labels };
  });
  const nodes = new Map(graph.nodes.map((node) => [elkIdOf.get(node.id)!, node]));
  const root: ElkNode = { id: 'root', layoutOptions: { ...ROOT_OPTIONS, 'elk.direction': direction }, children: machine, edges };
  return { root, nodes, dots, captions, titles, lines };
}

/**
 * The transitions, one line per (source, target) pair, labels joined in the order they appear. A
 * line back to a state defined earlier is handed to elkjs the other way round (and its points read
 * back reversed): layers then follow the order the machine's author wrote the states in, and the
 * hub every state returns to (an agent's `routing`) stays on the left. The lines out of an
 * eventless state are not labelled (its box says `eventless`; each line's guard is in its tooltip).
 */
function linesOf(graph: MachineGraph, elkIdOf: ReadonlyMap<string, string>, eventless: ReadonlySet<string>): Line[] {
  const pairs = new Map<string, GraphEdge[]>();
  for (const edge of graph.edges) {
    const key = JSON.stringify([edge.source, edge.target]);
    (pairs.get(key) ?? pairs.set(key, []).get(key)!).push(edge);
  }
  const order = new Map(graph.nodes.map((node, i) => [node.id, i]));
  return [...pairs.values()].map((edges, i) => {
    const { source, target, kind } = edges[0]!;
    const reversed = order.get(target)! < order.get(source)!;
    const [from, to] = reversed ? [target, source] : [source, target];
    const label = eventless.has(source) ? '' : [...new Set(edges.map((e) => e.label))].join(' / ');
    return { elkId: `e${i}`, elkSource: elkIdOf.get(from)!, elkTarget: elkIdOf.get(to)!, reversed, source, target, edges, label, kind };
  });
}

/** States left by eventless transitions only (more than one): they route, and are never at rest. */
function eventlessStates(graph: MachineGraph): Set<string> {
  const kinds = new Map<string, EdgeKind[]>();
  for (const edge of graph.edges) (kinds.get(edge.source) ?? kinds.set(edge.source, []).get(edge.source)!).push(edge.kind);
  return new Set([...kinds].filter(([, list]) => list.length > 1 && list.every((kind) => kind === 'always')).map(([id]) => id));
}

/**
 * The caption under a state's name: a pipeline step's place in its order (`step 2`), what it runs
 * (`custom step` for a step of the agent's author), or `eventless`.
 */
function captionOf(node: GraphNode, eventless: boolean): string | undefined {
  const parts = node.invokes.map((step) => (step === 'custom' ? 'custom step' : step));
  if (node.pipelineStep !== undefined) parts.unshift(`step ${node.pipelineStep.order}`);
  if (eventless) parts.push('eventless');
  return parts.length === 0 ? undefined : parts.join(' · ');
}

/** A frame's title: the state's key, or `<machine> · <n> states` for the machine itself. */
function titleOf(node: GraphNode, graph: MachineGraph): string {
  if (node.parent !== null) return node.key;
  const states = graph.nodes.length - 1;
  return `${node.key} · ${states} state${states === 1 ? '' : 's'}`;
}

function leafSize(node: GraphNode, caption: string | undefined): { width: number; height: number } {
  const name = textWidth(node.key, FONT.name, 600);
  const under = caption === undefined ? 0 : textWidth(caption, FONT.caption);
  const ring = node.final ? 2 * FINAL_RING : 0;
  return { width: Math.max(64, Math.max(name, under) + 2 * PAD.x) + ring, height: (caption === undefined ? 28 : 38) + ring };
}

function labelSize(text: string): { width: number; height: number } {
  return { width: textWidth(text, FONT.label) + 2 * PAD.label, height: Math.ceil(FONT.label * LINE) + 2 };
}

/** Room for the title at the top, and at least its width. */
function frameOptions(title: string): ElkOptions {
  const header = Math.ceil(FONT.title * LINE) + 10;
  return {
    'elk.padding': `[top=${header + PAD.frame},left=${PAD.frame},bottom=${PAD.frame},right=${PAD.frame}]`,
    'elk.nodeSize.constraints': 'MINIMUM_SIZE',
    'elk.nodeSize.minimum': `(${textWidth(title, FONT.title, 600) + 2 * PAD.frame}, ${header + 2 * PAD.frame})`,
  };
}
