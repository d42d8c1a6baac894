// Copies the non-TypeScript files the runtime reads at run time (prompt templates, the inspector
// page) next to the compiled JavaScript in dist/.
import { cpSync, existsSync } from 'node:fs';

const assets = [
  { from: 'agents', to: 'dist/agents', keep: (file) => !file.endsWith('.ts') },
  { from: 'src/inspector', to: 'dist/src/inspector', keep: (file) => /\.(html|css|js)$/.test(file) && !file.endsWith('.d.ts') },
];
for (const { from, to, keep } of assets) {
  if (!existsSync(from)) continue;
  cpSync(from, to, { recursive: true, filter: (source) => !/\.[a-z]+$/.test(source) || keep(source) });
}
