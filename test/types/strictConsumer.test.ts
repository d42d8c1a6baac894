/**
 * switchyard's declarations as a strict user compiles them: exactOptionalPropertyTypes on and
 * skipLibCheck off (test/types/fixtures/tsconfig.consumer.json). The declarations are emitted here,
 * in memory, from the entry points of package.json "exports" (as `npm run build` emits them to
 * dist/, without depending on a build); the fixture imports the entries' sources, which resolve to
 * those declarations. Only errors in switchyard's declarations and in the fixture are asserted:
 * xstate's and @nats-io's own declarations fail under these options upstream (xstate's setup.d.ts,
 * nats-core's MsgImpl), which is not ours to fix, so their files are not checked.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = join(root, 'test/types/fixtures');
const ourDirs = ['src', 'machines', 'agents', 'tools'].map((dir) => `${join(root, dir)}/`);
const isOurs = (file: string): boolean => ourDirs.some((dir) => file.startsWith(dir));

function parsedConfig(path: string): ts.ParsedCommandLine {
  const parsed = ts.getParsedCommandLineOfConfigFile(path, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => expect.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')) });
  if (parsed === undefined) return expect.fail(`cannot read ${path}`);
  return parsed;
}

/** The source files of the entry points package.json exports (`./dist/src/x.js` is built from `src/x.ts`). */
function entrySources(): string[] {
  const { exports } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, string | { default: string }> };
  return Object.values(exports).flatMap((entry) => (typeof entry === 'string' ? [] : [join(root, entry.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'))]));
}

/** A host that parses each file once, shared by both programs (node_modules are most of the work). */
function cachingHost(options: ts.CompilerOptions, cache: Map<string, ts.SourceFile | undefined>): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) => {
    if (!cache.has(name)) cache.set(name, read(name, version, ...rest));
    return cache.get(name);
  };
  return host;
}

/** The `.d.ts` files the build emits for the entry points (with the build's own options), by path beside their sources. */
function emitDeclarations(cache: Map<string, ts.SourceFile | undefined>): Map<string, string> {
  const build = parsedConfig(join(root, 'tsconfig.build.json')).options;
  const options: ts.CompilerOptions = { ...build, noEmit: false, declaration: true, emitDeclarationOnly: true, declarationMap: false, sourceMap: false, outDir: undefined, rootDir: root };
  const declarations = new Map<string, string>();
  const result = ts.createProgram(entrySources(), options, cachingHost(options, cache)).emit(undefined, (name, text) => declarations.set(name, text), undefined, true);
  expect(result.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  return declarations;
}

/** The fixture's program over switchyard's declarations (its `.ts` sources hidden, so imports resolve to the `.d.ts`). */
function consumerProgram(declarations: Map<string, string>, cache: Map<string, ts.SourceFile | undefined>): ts.Program {
  const { options, fileNames } = parsedConfig(join(fixtures, 'tsconfig.consumer.json'));
  const host = cachingHost(options, cache);
  const hidden = (name: string): boolean => isOurs(name) && !declarations.has(name);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (name) => declarations.has(name) || (!hidden(name) && fileExists.call(host, name));
  host.readFile = (name) => declarations.get(name) ?? (hidden(name) ? undefined : readFile.call(host, name));
  host.getSourceFile = (name, version, ...rest) => {
    const text = declarations.get(name);
    return text === undefined ? getSourceFile.call(host, name, version, ...rest) : ts.createSourceFile(name, text, version);
  };
  return ts.createProgram(fileNames, options, host);
}

const at = (node: ts.Node): string => `${node.getSourceFile().fileName.slice(root.length + 1)}(${node.getSourceFile().getLineAndCharacterOfPosition(node.getStart()).line + 1})`;

/** tsc's errors in the fixture and in switchyard's declarations (not in node_modules: see above). */
function errors(program: ts.Program): string[] {
  const checked = program.getSourceFiles().filter((file) => isOurs(file.fileName) || file.fileName.startsWith(fixtures));
  expect(checked.filter((file) => file.isDeclarationFile).length).toBeGreaterThan(20);
  const diagnostics = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics(), ...checked.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])];
  return diagnostics.map((d) => {
    const where = d.file === undefined ? '' : `${d.file.fileName.slice(root.length + 1)}(${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}): `;
    return `${where}${ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]}`;
  });
}

/** What users pass in besides `*Options` / `*Config`: what their steps return, their webhook targets and HTTP extensions. */
const INPUTS = new Set(['StepResult', 'JudgeResult', 'WebhookTarget', 'HttpExtension']);
const isInput = (name: string): boolean => /(Options|Config)$/.test(name) || INPUTS.has(name);

/** `Name.property` for each optional property of an exported options type (`*Options`, `*Config`, {@link INPUTS}) whose declared type does not admit `undefined`. */
function optionsRefusingUndefined(program: ts.Program): string[] {
  const checker = program.getTypeChecker();
  const found = new Set<string>();
  for (const entry of entrySources()) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(entry.replace(/\.ts$/, '.d.ts'))!)!;
    for (const exported of checker.getExportsOfModule(module)) {
      if (!isInput(exported.name)) continue;
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      if (!(symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias))) continue;
      const declared = checker.getDeclaredTypeOfSymbol(symbol);
      for (const property of (declared.isUnion() ? declared.types : [declared]).flatMap((member) => checker.getPropertiesOfType(member))) {
        const declaration = property.declarations?.[0];
        if (!(property.flags & ts.SymbolFlags.Optional) || declaration === undefined || !ts.isPropertySignature(declaration) || declaration.type === undefined) continue;
        const type = checker.getTypeFromTypeNode(declaration.type);
        const admits = (t: ts.Type): boolean => (t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Any | ts.TypeFlags.Unknown)) !== 0 || (t.isUnion() && t.types.some(admits));
        if (!admits(type)) found.add(`${exported.name}.${property.name} ${at(declaration)}`);
      }
    }
  }
  return [...found].sort();
}

describe("switchyard's declarations in a strict project", () => {
  let program: ts.Program;
  beforeAll(() => {
    const cache = new Map<string, ts.SourceFile | undefined>();
    program = consumerProgram(emitDeclarations(cache), cache);
  }, 120_000);

  it('a consumer of every entry point compiles with exactOptionalPropertyTypes and skipLibCheck off, passing options that may be undefined', () => {
    expect(errors(program)).toEqual([]);
  }, 60_000);

  it('every optional property of an exported options type admits an explicit undefined (as the runtime takes it: absent)', () => {
    expect(optionsRefusingUndefined(program)).toEqual([]);
  });
});
