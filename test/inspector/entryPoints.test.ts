/**
 * The inspector and elkjs stay behind `switchyard/inspector`: no module the core, `switchyard/server`,
 * `switchyard/nats` or `switchyard/testing` loads imports them, and elkjs is never imported as a
 * value at all (it runs in the layout worker, which loads it by path on the first chart).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The modules a file imports as values (type-only imports load nothing), as resolved paths or package names. */
function valueImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const specifiers: string[] = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly) {
      const named = statement.importClause?.namedBindings;
      const allTypes = named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly) && !statement.importClause?.name;
      if (!allTypes) specifiers.push((statement.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier && !statement.isTypeOnly) {
      specifiers.push((statement.moduleSpecifier as ts.StringLiteral).text);
    }
  }
  return specifiers.map((s) => (s.startsWith('.') ? resolve(dirname(file), s.replace(/\.js$/, '.ts')) : s));
}

/** Every module `entry` loads, transitively. */
function reach(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (module: string): void => {
    if (seen.has(module)) return;
    seen.add(module);
    if (module.startsWith('/')) for (const next of valueImports(module)) visit(next);
  };
  visit(join(root, entry));
  return seen;
}

const shown = (modules: Iterable<string>) => [...modules].map((m) => (m.startsWith('/') ? relative(root, m) : m));

describe('what each entry point loads', () => {
  it.each(['src/index.ts', 'src/server/index.ts', 'src/nats/index.ts', 'src/testing/index.ts'])('%s loads neither the inspector nor elkjs', (entry) => {
    const loaded = shown(reach(entry));
    expect(loaded.length).toBeGreaterThan(5);
    expect(loaded.filter((m) => m.startsWith('src/inspector/') || m.startsWith('elkjs'))).toEqual([]);
  });

  it('switchyard/inspector never imports elkjs as a value: the layout worker loads it, on the first chart', () => {
    const loaded = shown(reach('src/inspector/index.ts'));
    expect(loaded).toEqual(expect.arrayContaining(['src/inspector/layout.ts', 'src/inspector/elkWorker.ts', 'hono']));
    expect(loaded.filter((m) => m.startsWith('elkjs'))).toEqual([]);
    expect(readFileSync(join(root, 'src/inspector/elkWorker.ts'), 'utf8')).toContain("require.resolve('elkjs/lib/elk.bundled.js')");
  });
});
