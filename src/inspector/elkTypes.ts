// The part of ELK's JSON graph format (https://eclipse.dev/elk/documentation/tooldevelopers/graphdatastructure/jsonformat.html)
// the inspector hands to elkjs and reads back. Declared here rather than imported from
// `elkjs/lib/elk-api.js`: the inspector's declarations would then pull elkjs's own into every
// project that imports `switchyard/inspector`, and those do not check under `skipLibCheck: false`
// (elk-api.d.ts's `layout` signature is a type error for tsc 5). elkjs runs in a worker thread
// (elkWorker.ts) and is never called through its typed API, so nothing checks these against it:
// the layout tests do, by laying real machines out.

/** Layout options: ELK option ids to values, all strings. */
export type ElkOptions = Readonly<Record<string, string>>;

export interface ElkPoint {
  readonly x: number;
  readonly y: number;
}

/** A node, a label or a port: its place (set by the layout) and size. */
export interface ElkShape {
  readonly id?: string;
  readonly x?: number;
  readonly y?: number;
  readonly width?: number;
  readonly height?: number;
  readonly labels?: readonly ElkLabel[];
  readonly layoutOptions?: ElkOptions;
}

export interface ElkLabel extends ElkShape {
  readonly text?: string;
}

export interface ElkNode extends ElkShape {
  readonly id: string;
  readonly children?: readonly ElkNode[];
  readonly edges?: readonly ElkExtendedEdge[];
}

/** A stretch of a routed edge, from its start to its end through its bend points. */
export interface ElkEdgeSection {
  readonly id: string;
  readonly startPoint: ElkPoint;
  readonly endPoint: ElkPoint;
  readonly bendPoints?: readonly ElkPoint[];
}

export interface ElkExtendedEdge {
  readonly id: string;
  readonly sources: readonly string[];
  readonly targets: readonly string[];
  readonly labels?: readonly ElkLabel[];
  readonly sections?: readonly ElkEdgeSection[];
  readonly layoutOptions?: ElkOptions;
}
