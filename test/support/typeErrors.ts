import ts from 'typescript';

/**
 * tsc's errors for `source`, compiled as the module at `path` (strict, NodeNext, as a user's
 * project; `noUncheckedIndexedAccess` too): its imports resolve from there, so a test names a
 * path beside itself and imports the sources relatively.
 */
export function typeErrors(path: string, source: string): string[] {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    noUncheckedIndexedAccess: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => name === path || fileExists.call(host, name);
  host.readFile = (name) => (name === path ? source : readFile.call(host, name));
  host.getSourceFile = (name, version, ...rest) => (name === path ? ts.createSourceFile(name, source, version) : getSourceFile.call(host, name, version, ...rest));
  const program = ts.createProgram([path], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(path)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}
