import { readFileSync } from 'node:fs';
const [file, match] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file!, 'utf8'));
const byId = new Map<number, any>(p.nodes.map((n: any) => [n.id, n]));
const self = new Map<number, number>();
p.samples.forEach((id: number, i: number) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const total = (id: number): number => { const n = byId.get(id); return (self.get(id) ?? 0) + (n.children ?? []).reduce((a: number, c: number) => a + total(c), 0); };
const key = (n: any) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*\/work\/main\//, '').replace(/.*node_modules\//, '')}:${n.callFrame.lineNumber + 1}:${n.callFrame.columnNumber + 1}`;
const agg = new Map<string, number>();
const tops = new Map<string, number>();
for (const n of p.nodes) {
  if (!key(n).includes(match!)) continue;
  tops.set(key(n), (tops.get(key(n)) ?? 0) + total(n.id));
  for (const c of n.children ?? []) { const k = key(byId.get(c)); agg.set(k, (agg.get(k) ?? 0) + total(c)); }
}
console.log([...tops].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => `${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`).join('\n'));
console.log('children:');
console.log([...agg].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, v]) => `${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`).join('\n'));
