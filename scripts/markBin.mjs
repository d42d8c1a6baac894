// Makes the package's bin files executable after the build. `tsc` writes them 0644; npm's bin
// links make them executable only when it links them, so without this a rebuild in the repository
// (`npm start` builds before it serves) broke `npx switchyard` with "Permission denied" for anyone
// whose npx cache had linked the bin before.
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';

const { bin } = JSON.parse(readFileSync('package.json', 'utf8'));
const files = typeof bin === 'string' ? [bin] : Object.values(bin ?? {});
for (const file of files) {
  if (!existsSync(file)) throw new Error(`bin ${file} was not built`);
  chmodSync(file, statSync(file).mode | 0o111);
}
