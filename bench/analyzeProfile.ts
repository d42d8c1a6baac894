/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): the hottest functions by self time, the
 * heaviest by inclusive time, and self time grouped by package or source file.
 *
 *   npx tsx bench/analyzeProfile.ts <file.cpuprofile> [top=30] [filter]
 *
 * `filter` keeps inclusive rows whose function or file contains it (e.g. `src/`).
 */
import { readFileSync } from 'node:fs';
import { fixed, printTable, ROOT } from './harness.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg = '30', filter] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: bench/analyzeProfile.ts <file.cpuprofile> [top] [filter]');
const top = Number(topArg);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

const shortUrl = (url: string): string => {
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  const root = url.indexOf(ROOT);
  if (root !== -1) return url.slice(root + ROOT.length);
  return url.replace(/^file:\/\//, '');
};
const keyOf = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
const groupOf = (f: CallFrame): string => {
  if (f.url === '') return f.functionName.startsWith('(') ? f.functionName : '(native)';
  const url = shortUrl(f.url);
  if (url.startsWith('node:')) return url;
  const parts = url.split('/');
  if (f.url.includes('node_modules/')) return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  return url;
};

const self = new Map<string, number>();
const groups = new Map<string, number>();
const inclusive = new Map<string, number>();
// Inclusive time: each node's subtree, counted once per function even under recursion.
const walk = (id: number, onStack: Set<string>): number => {
  const node = byId.get(id)!;
  const key = keyOf(node.callFrame);
  let sum = selfUs.get(id) ?? 0;
  const fresh = !onStack.has(key);
  if (fresh) onStack.add(key);
  for (const child of node.children ?? []) sum += walk(child, onStack);
  if (fresh) {
    onStack.delete(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
  }
  return sum;
};
walk(profile.nodes[0]!.id, new Set());
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0) continue;
  const key = keyOf(node.callFrame);
  self.set(key, (self.get(key) ?? 0) + us);
  const group = groupOf(node.callFrame);
  groups.set(group, (groups.get(group) ?? 0) + us);
}

const pct = (us: number): string => `${fixed((100 * us) / totalUs, 1)}%`;
const ms = (us: number): string => fixed(us / 1000, 0);
const rows = (map: Map<string, number>, n: number, keep: (k: string) => boolean = () => true): string[][] =>
  [...map.entries()]
    .filter(([k]) => keep(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => [pct(us), ms(us), k]);

console.log(`${file}: ${ms(totalUs)} ms sampled\n\nself time by package / file`);
printTable([{ header: 'self', right: true }, { header: 'ms', right: true }, { header: 'group' }], rows(groups, top));
console.log('\nhottest functions (self time)');
printTable([{ header: 'self', right: true }, { header: 'ms', right: true }, { header: 'function' }], rows(self, top));
console.log(`\nheaviest functions (inclusive time)${filter ? ` matching "${filter}"` : ''}`);
printTable(
  [{ header: 'total', right: true }, { header: 'ms', right: true }, { header: 'function' }],
  rows(inclusive, top, (k) => filter === undefined || k.includes(filter)),
);
