import type { EdgeKind, GraphNode, MachineGraph } from './graph.js';

/** A state's box, in the layout's coordinates (origin top-left). */
export interface NodeBox {
  readonly id: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** Drawn as a frame around its children (a compound or parallel state). */
  readonly container: boolean;
}

/** One drawn line: every transition between one pair of states, merged. */
export interface EdgePath {
  /** `<source>|<target>` of the first transition drawn. */
  readonly id: string;
  /** Ids of the {@link GraphEdge}s drawn by this line. */
  readonly edges: readonly string[];
  /** SVG path data, from the first transition's source to its target. */
  readonly d: string;
  /** The labels of the transitions, ` / `-separated. */
  readonly label: string;
  readonly labelX: number;
  readonly labelY: number;
  /** Transitions go both ways: draw an arrowhead at each end. */
  readonly both: boolean;
  /** The kind of the first transition (for styling). */
  readonly kind: EdgeKind;
}

/** Where everything goes. */
export interface GraphLayout {
  readonly width: number;
  readonly height: number;
  readonly boxes: readonly NodeBox[];
  readonly paths: readonly EdgePath[];
}

/** Options of {@link layoutGraph}. */
export interface LayoutOptions {
  /** Layers as columns from left to right (`LR`) or as rows from top to bottom (`TB`). @default 'LR' */
  direction?: 'LR' | 'TB';
  /** States in one layer before it wraps into the next. @default 10 for LR, 5 for TB */
  maxPerLayer?: number;
  /** @default 32 */
  nodeHeight?: number;
  /** Space between two boxes of one layer. @default 10 for LR, 34 for TB */
  gap?: number;
  /** Space between layers. @default 80 for LR, 62 for TB */
  layerGap?: number;
}

const CHAR_WIDTH = 7.2;
const PADDING = 20;
const HEADER = 24;
/** Space a long edge takes where it crosses a row. */
const LANE = 12;

interface Item {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  /** Size along its layer (width in TB, height in LR). */
  readonly breadth: number;
  readonly dummy: boolean;
}

interface Sized {
  readonly width: number;
  readonly height: number;
  /** Positions of children and of long-edge waypoints, relative to this box. */
  readonly placed: readonly { id: string; x: number; y: number }[];
}

/**
 * Lays a {@link MachineGraph} out the way a person draws a statechart: each compound state's
 * children in layers by distance from its initial state (columns from left to right by default;
 * final states last; long layers wrapped), edges that skip layers routed through the gaps
 * (Sugiyama-style waypoints), layers ordered and aligned to keep lines short and straight, nested
 * states inside their parent's frame. Transitions between the same two states are one line.
 * Deterministic: the same graph always gets the same layout.
 */
export function layoutGraph(graph: MachineGraph, options: LayoutOptions = {}): GraphLayout {
  const lr = (options.direction ?? 'LR') === 'LR';
  const {
    maxPerLayer = lr ? 10 : 5,
    nodeHeight = 32,
    gap = lr ? 10 : 34,
    layerGap = lr ? 80 : 62,
  } = options;
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const children = new Map<string, GraphNode[]>();
  for (const node of graph.nodes) {
    if (node.parent === null) continue;
    const list = children.get(node.parent) ?? [];
    list.push(node);
    children.set(node.parent, list);
  }
  const root = graph.nodes.find((n) => n.parent === null);
  if (root === undefined) return { width: 0, height: 0, boxes: [], paths: [] };

  /** The child of `container` that is `id` or contains it. */
  const childUnder = (container: string, id: string): string | undefined => {
    let current = byId.get(id);
    while (current !== undefined && current.parent !== container) current = current.parent === null ? undefined : byId.get(current.parent);
    return current?.id;
  };
  const isAncestor = (ancestor: string, id: string): boolean => ancestor !== id && childUnder(ancestor, id) !== undefined;

  const sized = new Map<string, Sized>();
  /** Waypoints of long edges: `<kid>|<kid>` (earlier layer first) to dummy ids. */
  const chains = new Map<string, string[]>();
  let dummies = 0;

  const size = (node: GraphNode): Sized => {
    const kids = children.get(node.id) ?? [];
    if (kids.length === 0) {
      const leaf: Sized = { width: labelWidth(node), height: nodeHeight, placed: [] };
      sized.set(node.id, leaf);
      return leaf;
    }
    const items = new Map<string, Item>();
    for (const kid of kids) {
      const s = size(kid);
      items.set(kid.id, { id: kid.id, width: s.width, height: s.height, breadth: lr ? s.height : s.width, dummy: false });
    }

    // Transitions seen from this container: between its children (or their descendants).
    const links: [string, string][] = [];
    const layering: [string, string][] = [];
    const start = (kids.find((k) => k.initial) ?? kids[0]!).id;
    for (const edge of graph.edges) {
      const to = childUnder(node.id, edge.target);
      if (to === undefined || edge.source === edge.target) continue;
      const from = childUnder(node.id, edge.source);
      if (from === undefined) {
        // The container's own transitions reach a child from anywhere: layer it as if from the start.
        if (edge.source === node.id || isAncestor(edge.source, node.id)) layering.push([start, to]);
        continue;
      }
      if (from === to) continue;
      links.push([from, to]);
      layering.push([from, to]);
    }

    // Layers: distance from the initial child; final states (and unreachable ones) after the rest.
    const depth = new Map<string, number>([[start, 0]]);
    const queue = [start];
    while (queue.length > 0) {
      const id = queue.shift()!;
      for (const [s, t] of layering) {
        if (s === id && !depth.has(t)) {
          depth.set(t, depth.get(id)! + 1);
          queue.push(t);
        }
      }
    }
    const finals = new Set(kids.filter((k) => k.final).map((k) => k.id));
    const deepest = Math.max(0, ...kids.filter((k) => !finals.has(k.id) && depth.has(k.id)).map((k) => depth.get(k.id)!));
    for (const kid of kids) if (finals.has(kid.id) || !depth.has(kid.id)) depth.set(kid.id, deepest + 1);
    // Regions of a parallel state are all active at once: side by side in one layer.
    if (node.type === 'parallel') for (const kid of kids) depth.set(kid.id, 0);
    const grouped: string[][] = [];
    for (const kid of kids) (grouped[depth.get(kid.id)!] ??= []).push(kid.id);
    const layers: string[][] = [];
    for (const l of grouped) {
      if (l === undefined || l.length === 0) continue;
      const per = Math.ceil(l.length / Math.ceil(l.length / maxPerLayer));
      for (let i = 0; i < l.length; i += per) layers.push(l.slice(i, i + per));
    }
    const layerOf = new Map<string, number>();
    layers.forEach((layer, r) => layer.forEach((id) => layerOf.set(id, r)));

    // Long edges get a waypoint in every layer they cross; neighbours are pairs in adjacent layers.
    const neighbours = new Map<string, Set<string>>();
    const connect = (a: string, b: string): void => {
      (neighbours.get(a) ?? neighbours.set(a, new Set()).get(a)!).add(b);
      (neighbours.get(b) ?? neighbours.set(b, new Set()).get(b)!).add(a);
    };
    const seen = new Set<string>();
    for (const [a, b] of links) {
      const [early, late] = layerOf.get(a)! <= layerOf.get(b)! ? [a, b] : [b, a];
      const key = `${early}|${late}`;
      if (seen.has(key) || seen.has(`${late}|${early}`)) continue;
      seen.add(key);
      if (layerOf.get(late)! === layerOf.get(early)!) continue;
      const chain: string[] = [];
      let previous = early;
      for (let r = layerOf.get(early)! + 1; r < layerOf.get(late)!; r++) {
        const id = `~${dummies++}`;
        items.set(id, { id, width: 0, height: 0, breadth: 0, dummy: true });
        layers[r]!.push(id);
        layerOf.set(id, r);
        connect(previous, id);
        chain.push(id);
        previous = id;
      }
      connect(previous, late);
      if (chain.length > 0) chains.set(key, chain);
    }

    // In LR, labels run along the gaps: a gap is as wide as the longest label of a line crossing it.
    const pairLabels = new Map<string, Set<string>>();
    for (const edge of graph.edges) {
      const from = childUnder(node.id, edge.source);
      const to = childUnder(node.id, edge.target);
      if (from === undefined || to === undefined || from === to) continue;
      const key = layerOf.get(from)! <= layerOf.get(to)! ? `${from}|${to}` : `${to}|${from}`;
      (pairLabels.get(key) ?? pairLabels.set(key, new Set()).get(key)!).add(edge.label);
    }
    const gaps = layers.map(() => layerGap);
    if (lr) {
      for (const [key, labels] of pairLabels) {
        const [from, to] = key.split('|') as [string, string];
        const r = layerOf.get(from)!;
        if (layerOf.get(to)! !== r + 1) continue;
        const width = [...labels].join(' / ').length * 5.4 + 36;
        gaps[r] = Math.min(190, Math.max(gaps[r]!, width));
      }
    }

    orderLayers(layers, neighbours);
    const centres = alignLayers(layers, items, neighbours, gap);

    // Along the layer: the aligned centres; across: one band per layer, as deep as its largest box.
    const low = Math.min(...layers.flatMap((layer) => layer.map((id) => centres.get(id)! - items.get(id)!.breadth / 2)));
    const high = Math.max(...layers.flatMap((layer) => layer.map((id) => centres.get(id)! + items.get(id)!.breadth / 2)));
    const bands = layers.map((layer) => Math.max(...layer.map((id) => (lr ? items.get(id)!.width : items.get(id)!.height))));
    const across = bands.reduce((sum, b) => sum + b, 0) + gaps.slice(0, -1).reduce((sum, g) => sum + g, 0);
    const innerWidth = lr ? across : high - low;
    const innerHeight = lr ? high - low : across;
    const width = Math.max(labelWidth(node) + 2 * PADDING, innerWidth + 2 * PADDING);
    const height = HEADER + PADDING + innerHeight + PADDING;
    const left = (width - innerWidth) / 2;
    const top = HEADER + PADDING;
    const placed: { id: string; x: number; y: number }[] = [];
    let band = 0;
    layers.forEach((layer, r) => {
      for (const id of layer) {
        const item = items.get(id)!;
        const along = centres.get(id)! - low;
        const mid = band + bands[r]! / 2;
        placed.push(
          lr
            ? { id, x: left + mid - item.width / 2, y: top + along - item.height / 2 }
            : { id, x: left + along - item.width / 2, y: top + mid - item.height / 2 },
        );
      }
      band += bands[r]! + gaps[r]!;
    });
    const result: Sized = { width, height, placed };
    sized.set(node.id, result);
    return result;
  };

  const rootSize = size(root);
  const boxes: NodeBox[] = [];
  const waypoint = new Map<string, [number, number]>();
  const place = (id: string, x: number, y: number): void => {
    const s = sized.get(id)!;
    boxes.push({ id, x, y, width: s.width, height: s.height, container: s.placed.length > 0 });
    for (const p of s.placed) {
      if (p.id.startsWith('~')) waypoint.set(p.id, [x + p.x, y + p.y]);
      else place(p.id, x + p.x, y + p.y);
    }
  };
  place(root.id, 0, 0);
  const boxOf = new Map(boxes.map((b) => [b.id, b]));

  // One line per pair of states.
  const groups = new Map<string, { source: string; target: string; edges: (typeof graph.edges)[number][] }>();
  for (const edge of graph.edges) {
    const key = groups.has(`${edge.target}|${edge.source}`) ? `${edge.target}|${edge.source}` : `${edge.source}|${edge.target}`;
    const group = groups.get(key) ?? { source: edge.source, target: edge.target, edges: [] };
    group.edges.push(edge);
    groups.set(key, group);
  }
  const paths: EdgePath[] = [];
  for (const [id, group] of groups) {
    const a = boxOf.get(group.source)!;
    const b = boxOf.get(group.target)!;
    const labels = [...new Set(group.edges.map((e) => e.label))];
    const both = group.edges.some((e) => e.source === group.target) && group.edges.some((e) => e.source === group.source);
    const base = { id, edges: group.edges.map((e) => e.id), label: labels.join(' / '), both, kind: group.edges[0]!.kind };
    if (group.source === group.target) paths.push({ ...base, ...selfLoop(a) });
    else if (isAncestor(group.source, group.target)) paths.push({ ...base, ...stub(b, lr) });
    else paths.push({ ...base, ...route(a, b, via(group.source, group.target), lr) });
  }
  return { width: Math.ceil(rootSize.width), height: Math.ceil(rootSize.height), boxes, paths };

  /** The waypoints between two states, in order from `a` to `b`. */
  function via(a: string, b: string): [number, number][] {
    for (let container = byId.get(a)?.parent ?? null; container !== null; container = byId.get(container)?.parent ?? null) {
      const ka = childUnder(container, a);
      const kb = childUnder(container, b);
      if (ka === undefined || kb === undefined) continue;
      const forward = chains.get(`${ka}|${kb}`);
      if (forward) return forward.map((d) => waypoint.get(d)!);
      const backward = chains.get(`${kb}|${ka}`);
      if (backward) return backward.map((d) => waypoint.get(d)!).reverse();
      return [];
    }
    return [];
  }
}

function labelWidth(node: GraphNode): number {
  const invokes = node.invokes.length > 0 ? `invoke ${node.invokes.join(', ')}`.length * 6 : 0;
  return Math.max(96, Math.round(Math.max(node.key.length * CHAR_WIDTH, invokes) + 30));
}

/** Barycentre ordering: each layer sorted by the mean position of its neighbours, sweeping both ways. */
function orderLayers(rows: string[][], neighbours: Map<string, Set<string>>): void {
  const position = new Map<string, number>();
  const index = (): void => rows.forEach((row) => row.forEach((id, i) => position.set(id, row.length === 1 ? 0.5 : i / (row.length - 1))));
  index();
  const rowIndex = new Map<string, number>();
  rows.forEach((row, r) => row.forEach((id) => rowIndex.set(id, r)));
  const sortRow = (r: number, from: number): void => {
    const row = rows[r]!;
    const original = new Map(row.map((id, i) => [id, i]));
    const score = new Map<string, number>();
    for (const id of row) {
      const near = [...(neighbours.get(id) ?? [])].filter((n) => rowIndex.get(n) === from);
      score.set(id, near.length === 0 ? position.get(id)! : near.reduce((sum, n) => sum + position.get(n)!, 0) / near.length);
    }
    row.sort((x, y) => score.get(x)! - score.get(y)! || original.get(x)! - original.get(y)!);
    row.forEach((id, i) => position.set(id, row.length === 1 ? 0.5 : i / (row.length - 1)));
  };
  for (let sweep = 0; sweep < 6; sweep++) {
    for (let r = 1; r < rows.length; r++) sortRow(r, r - 1);
    for (let r = rows.length - 2; r >= 0; r--) sortRow(r, r + 1);
  }
}

/**
 * Centres of every item along its layer: each moved toward the mean of its neighbours, keeping the order and
 * gaps (a least-squares fit under the spacing constraints, by pool-adjacent-violators).
 */
function alignLayers(rows: string[][], items: Map<string, Item>, neighbours: Map<string, Set<string>>, gap: number): Map<string, number> {
  const centre = new Map<string, number>();
  const separation = (a: Item, b: Item): number => (a.breadth + b.breadth) / 2 + (a.dummy || b.dummy ? LANE : gap);
  for (const row of rows) {
    let x = 0;
    row.forEach((id, i) => {
      if (i > 0) x += separation(items.get(row[i - 1]!)!, items.get(id)!);
      centre.set(id, x);
    });
  }
  const widest = rows.reduce((w, row) => Math.max(w, centre.get(row[row.length - 1]!)!), 0);
  for (const row of rows) {
    const shift = (widest - centre.get(row[row.length - 1]!)!) / 2;
    for (const id of row) centre.set(id, centre.get(id)! + shift);
  }
  for (let sweep = 0; sweep < 8; sweep++) {
    const order = sweep % 2 === 0 ? rows : [...rows].reverse();
    for (const row of order) {
      const desired = row.map((id) => {
        const near = [...(neighbours.get(id) ?? [])];
        return near.length === 0 ? centre.get(id)! : near.reduce((sum, n) => sum + centre.get(n)!, 0) / near.length;
      });
      const fitted = fitInOrder(desired, row.map((id, i) => (i === 0 ? 0 : separation(items.get(row[i - 1]!)!, items.get(id)!))));
      row.forEach((id, i) => centre.set(id, fitted[i]!));
    }
  }
  return centre;
}

/** The positions closest to `desired` (least squares) with `x[i] - x[i-1] >= gaps[i]`. */
function fitInOrder(desired: readonly number[], gaps: readonly number[]): number[] {
  const offsets: number[] = [];
  let total = 0;
  for (const g of gaps) offsets.push((total += g));
  // With y[i] = x[i] - offsets[i] the constraint is y non-decreasing: isotonic regression.
  const blocks: { sum: number; count: number }[] = [];
  desired.forEach((d, i) => {
    blocks.push({ sum: d - offsets[i]!, count: 1 });
    while (blocks.length > 1 && blocks[blocks.length - 2]!.sum / blocks[blocks.length - 2]!.count > blocks[blocks.length - 1]!.sum / blocks[blocks.length - 1]!.count) {
      const last = blocks.pop()!;
      blocks[blocks.length - 1]!.sum += last.sum;
      blocks[blocks.length - 1]!.count += last.count;
    }
  });
  const result: number[] = [];
  for (const block of blocks) for (let i = 0; i < block.count; i++) result.push(block.sum / block.count + offsets[result.length]!);
  return result;
}

const round = (n: number): number => Math.round(n * 10) / 10;

/** Where the segment from the centre of `box` toward (tx, ty) leaves the box. */
function border(box: NodeBox, tx: number, ty: number): [number, number] {
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const dx = tx - cx;
  const dy = ty - cy;
  if (dx === 0 && dy === 0) return [cx, cy];
  const scale = Math.min(dx !== 0 ? box.width / 2 / Math.abs(dx) : Infinity, dy !== 0 ? box.height / 2 / Math.abs(dy) : Infinity);
  return [cx + dx * scale, cy + dy * scale];
}

/** A smooth line from `a` to `b` through `points` (an arc when both sit in one layer). */
function route(a: NodeBox, b: NodeBox, points: [number, number][], lr: boolean): Pick<EdgePath, 'd' | 'labelX' | 'labelY'> {
  const ac: [number, number] = [a.x + a.width / 2, a.y + a.height / 2];
  const bc: [number, number] = [b.x + b.width / 2, b.y + b.height / 2];
  const sameLayer = lr ? Math.abs(ac[0] - bc[0]) < 1 : Math.abs(ac[1] - bc[1]) < 1;
  if (points.length === 0 && sameLayer) {
    // One layer: arc out to the side (right in LR, up in TB), past the boxes between them.
    if (lr) {
      const bulge = Math.min(70, 24 + Math.abs(bc[1] - ac[1]) * 0.15);
      const sx = a.x + a.width;
      const tx = b.x + b.width;
      const mx = Math.max(sx, tx) + bulge;
      const d = `M${round(sx)},${round(ac[1])} C${round(mx)},${round(ac[1])} ${round(mx)},${round(bc[1])} ${round(tx)},${round(bc[1])}`;
      return { d, labelX: round(mx - bulge * 0.25), labelY: round((ac[1] + bc[1]) / 2) };
    }
    const lift = Math.min(60, 18 + Math.abs(bc[0] - ac[0]) * 0.12);
    const sy = a.y;
    const ty = b.y;
    const my = Math.min(sy, ty) - lift;
    const d = `M${round(ac[0])},${round(sy)} C${round(ac[0])},${round(my)} ${round(bc[0])},${round(my)} ${round(bc[0])},${round(ty)}`;
    return { d, labelX: round((ac[0] + bc[0]) / 2), labelY: round(my + lift * 0.25) };
  }
  const first = points[0] ?? bc;
  const last = points[points.length - 1] ?? ac;
  const all: [number, number][] = [border(a, first[0], first[1]), ...points, border(b, last[0], last[1])];
  let d = `M${round(all[0]![0])},${round(all[0]![1])}`;
  for (let i = 0; i < all.length - 1; i++) {
    // Catmull-Rom through the waypoints, as cubic Béziers.
    const p0 = all[i - 1] ?? all[i]!;
    const p1 = all[i]!;
    const p2 = all[i + 1]!;
    const p3 = all[i + 2] ?? p2;
    const c1 = [p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6];
    const c2 = [p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6];
    d += ` C${round(c1[0]!)},${round(c1[1]!)} ${round(c2[0]!)},${round(c2[1]!)} ${round(p2[0])},${round(p2[1])}`;
  }
  const [labelX, labelY] = along(all, 0.5);
  return { d, labelX: round(labelX), labelY: round(labelY) };
}

/** The point at `fraction` of a polyline's length. */
function along(points: [number, number][], fraction: number): [number, number] {
  const lengths = points.slice(1).map((p, i) => Math.hypot(p[0] - points[i]![0], p[1] - points[i]![1]));
  let remaining = lengths.reduce((s, l) => s + l, 0) * fraction;
  for (let i = 0; i < lengths.length; i++) {
    if (remaining <= lengths[i]! || i === lengths.length - 1) {
      const t = lengths[i]! === 0 ? 0 : Math.min(1, remaining / lengths[i]!);
      return [points[i]![0] + (points[i + 1]![0] - points[i]![0]) * t, points[i]![1] + (points[i + 1]![1] - points[i]![1]) * t];
    }
    remaining -= lengths[i]!;
  }
  return points[0]!;
}

function selfLoop(a: NodeBox): Pick<EdgePath, 'd' | 'labelX' | 'labelY'> {
  const x = a.x + a.width;
  const y = a.y + a.height / 2;
  return { d: `M${round(x)},${round(y - 8)} C${round(x + 34)},${round(y - 26)} ${round(x + 34)},${round(y + 26)} ${round(x)},${round(y + 8)}`, labelX: round(x + 30), labelY: round(y) };
}

/** A transition of a container into its own descendant: a short arrow from just outside it. */
function stub(b: NodeBox, lr: boolean): Pick<EdgePath, 'd' | 'labelX' | 'labelY'> {
  if (lr) {
    const y = b.y + b.height / 2;
    return { d: `M${round(b.x + b.width + 30)},${round(y)} L${round(b.x + b.width)},${round(y)}`, labelX: round(b.x + b.width + 30), labelY: round(y - 6) };
  }
  const x = b.x + b.width * 0.8;
  return { d: `M${round(x)},${round(b.y - 24)} L${round(x)},${round(b.y)}`, labelX: round(x + 4), labelY: round(b.y - 14) };
}
