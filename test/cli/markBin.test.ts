import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from './cliProcess.js';

const run = promisify(execFile);
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A package whose bin file is built as tsc writes it (0644). */
async function builtPackage(bin: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-markbin-'));
  dirs.push(dir);
  await mkdir(join(dir, 'dist'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'p', bin }));
  await writeFile(join(dir, 'dist/main.js'), '#!/usr/bin/env node\n');
  await chmod(join(dir, 'dist/main.js'), 0o644);
  return dir;
}

describe('scripts/markBin.mjs (the last step of `npm run build`)', () => {
  it('makes every bin of package.json executable, so `npx switchyard` runs after a rebuild', async () => {
    for (const bin of [{ switchyard: './dist/main.js' }, './dist/main.js']) {
      const dir = await builtPackage(bin);
      await run(process.execPath, [join(ROOT, 'scripts/markBin.mjs')], { cwd: dir });
      expect((await stat(join(dir, 'dist/main.js'))).mode & 0o777).toBe(0o755);
    }
  });

  it('fails the build when a bin was not built', async () => {
    const dir = await builtPackage({ switchyard: './dist/missing.js' });
    await expect(run(process.execPath, [join(ROOT, 'scripts/markBin.mjs')], { cwd: dir })).rejects.toThrow(/bin \.\/dist\/missing\.js was not built/);
  });

  it('is part of the build script', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: { build: string } };
    expect(pkg.scripts.build).toMatch(/node scripts\/markBin\.mjs$/);
  });
});
