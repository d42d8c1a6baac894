/**
 * Compares two V8 `.cpuprofile`s per run: self time per function (and per package) of B minus A,
 * biggest differences first. Idle time is left out.
 *
 *   npx tsx bench/compareProfiles.ts <a.cpuprofile> <runsA> <b.cpuprofile> <runsB> [top=40]
 *
 * `runs` is how many runs each profile covers (measured + warm-up), to normalize.
 */
import { readFileSync } from 'node:fs';
import { fixed, printTable, ROOT } from './harness.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [fileA, runsA, fileB, runsB, topArg = '40'] = process.argv.slice(2);
if (fileA === undefined || fileB === undefined) {
  throw new Error('usage: bench/compareProfiles.ts <a.cpuprofile> <runsA> <b.cpuprofile> <runsB> [top]');
}

const short = (url: string): string => {
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  const root = url.indexOf(ROOT);
  return root !== -1 ? url.slice(root + ROOT.length) : url.replace(/^file:\/\//, '');
};

/** Self µs per run by function and by package. */
function load(file: string, runs: number): { fns: Map<string, number>; groups: Map<string, number> } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fns = new Map<string, number>();
  const groups = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = byId.get(profile.samples[i]!)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    const us = (profile.timeDeltas[i] ?? 0) / runs;
    const url = short(frame.url);
    const key = `${frame.functionName || '(anonymous)'} ${url}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const group = frame.url === '' ? frame.functionName : url.startsWith('node:') || !frame.url.includes('node_modules/') ? url : url.split('/')[0]!;
    groups.set(group, (groups.get(group) ?? 0) + us);
  }
  return { fns, groups };
}

const a = load(fileA, Number(runsA));
const b = load(fileB, Number(runsB));
const total = (m: Map<string, number>): number => [...m.values()].reduce((x, y) => x + y, 0);
console.log(`per run: A ${fixed(total(a.fns) / 1000, 3)} ms, B ${fixed(total(b.fns) / 1000, 3)} ms, B-A ${fixed((total(b.fns) - total(a.fns)) / 1000, 3)} ms (busy CPU, idle excluded)`);

const diff = (ma: Map<string, number>, mb: Map<string, number>, top: number): string[][] =>
  [...new Set([...ma.keys(), ...mb.keys()])]
    .map((k) => [k, ma.get(k) ?? 0, mb.get(k) ?? 0] as const)
    .sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]))
    .slice(0, top)
    .map(([k, x, y]) => [fixed(y - x, 1), fixed(x, 1), fixed(y, 1), k]);
const columns = [{ header: 'B-A µs/run', right: true }, { header: 'A', right: true }, { header: 'B', right: true }, { header: 'what' }];
console.log('\nby package / file');
printTable(columns, diff(a.groups, b.groups, 25));
console.log('\nby function');
printTable(columns, diff(a.fns, b.fns, Number(topArg)));
