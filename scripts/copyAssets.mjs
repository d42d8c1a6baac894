// Copies the non-TypeScript files the runtime reads at run time next to the compiled JavaScript in
// dist/: the agents' prompt templates, and the inspector page's static files (HTML, CSS and the
// ES modules the browser loads as they are; their tsconfig and type-only files stay behind).
import { cpSync, existsSync } from 'node:fs';

const assets = [
  { from: 'agents', to: 'dist/agents', keep: (file) => !file.endsWith('.ts') },
  { from: 'src/inspector/ui', to: 'dist/src/inspector/ui', keep: (file) => /\.(html|css|js)$/.test(file) && !file.endsWith('/types.js') },
];
for (const { from, to, keep } of assets) {
  if (!existsSync(from)) continue;
  cpSync(from, to, { recursive: true, filter: (source) => !/\.[a-z]+$/.test(source) || keep(source) });
}
