// What the inspector's chart API sends (`GET /inspector/api/graph/:machine`): a machine as a graph
// of states and transitions, and where to draw each. Types only, so the page's type-check reads them.

/** What kind of transition an edge draws. */
export type EdgeKind = 'event' | 'always' | 'after' | 'done' | 'error';

/** A state of a machine, as the inspector draws it. */
export interface GraphNode {
  /** The state node's id (`agent.deciding`; a custom `id:` when the machine gives one). */
  readonly id: string;
  /** Its key within its parent (`deciding`); the machine's own id for the root. */
  readonly key: string;
  /** Keys from the root (excluded) down to this node: `['deciding']`; `[]` for the root. */
  readonly path: readonly string[];
  /** The parent's id; `null` for the root. */
  readonly parent: string | null;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The node is its parent's initial state. */
  readonly initial: boolean;
  readonly final: boolean;
  /**
   * What the state runs, for the label: invoked actor sources, and the step a state hands its
   * machine's step runner on entry (an entry action `{ type: 'run', params: { step: 'decide' } }`;
   * `custom` for a step of the agent's author).
   */
  readonly invokes: readonly string[];
  /** The pipeline step the state runs (its entry hands the step runner a step `name`), with its place in the pipeline's order (from 1). */
  readonly pipelineStep?: { readonly name: string; readonly order: number };
}

/** A transition between two states. */
export interface GraphEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  /** What to print: the event type, `always`, `after <delay>`, `done` or `error`. */
  readonly label: string;
  readonly kind: EdgeKind;
  /** The event type as XState names it (`''` for `always`). */
  readonly event: string;
  /** The guard's name, when the transition has one. */
  readonly guard?: string;
}

/** A machine definition as a drawable graph. */
export interface MachineGraph {
  /** The machine's id. */
  readonly id: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/** A point in the layout's coordinates (origin top-left). */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/** A line of text and the box it was measured to fit: draw it centred in the box, at `size` px. */
export interface TextBox {
  readonly text: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** Font size in px. */
  readonly size: number;
}

/** A state's box. */
export interface NodeBox {
  /** The {@link GraphNode}'s id. */
  readonly id: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** Drawn as a frame around its children (a compound or parallel state, or the machine). */
  readonly container: boolean;
  /** The state's name: centred in a state, at the top left of a frame. */
  readonly title: TextBox;
  /** What the state runs (`decide`, `custom step`), under its name. */
  readonly caption?: TextBox;
}

/** One drawn line: the transitions from one state to another, merged. */
export interface EdgeRoute {
  /** `<source>-><target>`, or `<parent>#initial` for the arrow to a parent's initial state. */
  readonly id: string;
  /** The source state's id (the parent, for an initial arrow). */
  readonly source: string;
  readonly target: string;
  /** Ids of the {@link GraphEdge}s drawn by this line; none for an initial arrow. */
  readonly edges: readonly string[];
  /** The first transition's kind, or `initial` for the arrow from a parent's initial dot. */
  readonly kind: EdgeKind | 'initial';
  /** The line, from its source to its target (an initial arrow starts at the dot's centre). */
  readonly points: readonly Point[];
  /** The transitions' labels, ` / `-separated; none for an initial arrow. */
  readonly label?: TextBox;
  /** The guards of the transitions, for a tooltip. */
  readonly guards: readonly string[];
}

/** Where everything goes: no two state boxes, and no two labels, overlap. */
export interface GraphLayout {
  readonly width: number;
  readonly height: number;
  /** Containers before what they contain. */
  readonly boxes: readonly NodeBox[];
  readonly routes: readonly EdgeRoute[];
}
