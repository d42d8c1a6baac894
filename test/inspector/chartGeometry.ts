/**
 * What "a readable statechart" means, as checks on rectangles: no two states overlap, no two
 * labels overlap, no label sits on a state, frames (compound states) nest without crossing what
 * they do not contain, and every text stays inside its box. Used on the layout the server computes
 * (graph.test.ts) and on what a real browser drew (browser.test.ts).
 */
import type { GraphLayout, MachineGraph } from '../../src/inspector/chartTypes.js';

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A chart as rectangles. `box` is a shape's outline; `drawn` everything drawn for it (its text too). */
export interface ChartShapes {
  readonly states: readonly { readonly id: string; readonly box: Rect; readonly drawn: Rect }[];
  readonly frames: readonly { readonly id: string; readonly box: Rect; readonly title: Rect }[];
  readonly labels: readonly { readonly id: string; readonly text: string; readonly box: Rect; readonly drawn: Rect }[];
}

const SLACK = 0.5;

export function overlap(a: Rect, b: Rect): boolean {
  return a.x + SLACK < b.x + b.width && b.x + SLACK < a.x + a.width && a.y + SLACK < b.y + b.height && b.y + SLACK < a.y + a.height;
}

export function inside(inner: Rect, outer: Rect): boolean {
  return inner.x >= outer.x - SLACK && inner.y >= outer.y - SLACK && inner.x + inner.width <= outer.x + outer.width + SLACK && inner.y + inner.height <= outer.y + outer.height + SLACK;
}

const show = (r: Rect): string => `(${r.x.toFixed(1)},${r.y.toFixed(1)} ${r.width.toFixed(1)}x${r.height.toFixed(1)})`;

/** Every way `shapes` breaks the rules, in words; `[]` for a readable chart. */
export function geometryProblems(shapes: ChartShapes, graph: MachineGraph): string[] {
  const problems: string[] = [];
  const parentOf = new Map(graph.nodes.map((n) => [n.id, n.parent]));
  const frames = new Map(shapes.frames.map((f) => [f.id, f]));
  const isAncestor = (ancestor: string, id: string): boolean => {
    for (let at = parentOf.get(id); at != null; at = parentOf.get(at)) if (at === ancestor) return true;
    return false;
  };
  const pairs = <T>(list: readonly T[], check: (a: T, b: T) => void): void => {
    for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) check(list[i]!, list[j]!);
  };
  pairs(shapes.states, (a, b) => {
    if (overlap(a.drawn, b.drawn)) problems.push(`states ${a.id} ${show(a.drawn)} and ${b.id} ${show(b.drawn)} overlap`);
  });
  pairs(shapes.labels, (a, b) => {
    if (overlap(a.drawn, b.drawn)) problems.push(`labels "${a.text}" ${show(a.drawn)} and "${b.text}" ${show(b.drawn)} overlap`);
  });
  pairs(shapes.frames, (a, b) => {
    if (overlap(a.box, b.box) && !inside(a.box, b.box) && !inside(b.box, a.box)) problems.push(`frames ${a.id} and ${b.id} cross`);
    if (overlap(a.box, b.title) && !isAncestor(a.id, b.id)) problems.push(`the frame of ${a.id} covers the title of ${b.id}`);
    if (overlap(b.box, a.title) && !isAncestor(b.id, a.id)) problems.push(`the frame of ${b.id} covers the title of ${a.id}`);
  });
  for (const state of shapes.states) {
    if (!inside(state.drawn, state.box)) problems.push(`the text of ${state.id} leaves its box`);
    const parent = parentOf.get(state.id);
    const frame = parent == null ? undefined : frames.get(parent);
    if (frame !== undefined && !inside(state.box, frame.box)) problems.push(`${state.id} is not inside its parent ${parent}`);
    for (const label of shapes.labels) if (overlap(label.drawn, state.drawn)) problems.push(`label "${label.text}" ${show(label.drawn)} overlaps state ${state.id} ${show(state.drawn)}`);
    for (const f of shapes.frames) {
      if (overlap(state.box, f.box) && !inside(state.box, f.box)) problems.push(`${state.id} crosses the frame of ${f.id}`);
      if (overlap(state.drawn, f.title)) problems.push(`${state.id} covers the title of ${f.id}`);
    }
  }
  for (const label of shapes.labels) {
    if (!inside(label.drawn, label.box)) problems.push(`the text "${label.text}" leaves its label`);
    for (const f of shapes.frames) {
      if (overlap(label.drawn, f.box) && !inside(label.drawn, f.box)) problems.push(`label "${label.text}" crosses the frame of ${f.id}`);
      if (overlap(label.drawn, f.title)) problems.push(`label "${label.text}" covers the title of ${f.id}`);
    }
  }
  return problems;
}

/** The shapes of a layout as the server computed it (text assumed to fit the measured boxes). */
export function layoutShapes(layout: GraphLayout): ChartShapes {
  return {
    states: layout.boxes.filter((b) => !b.container).map((b) => ({ id: b.id, box: b, drawn: b })),
    frames: layout.boxes.filter((b) => b.container).map((b) => ({ id: b.id, box: b, title: b.title })),
    labels: layout.routes.flatMap((r) => (r.label ? [{ id: r.id, text: r.label.text, box: r.label, drawn: r.label }] : [])),
  };
}
