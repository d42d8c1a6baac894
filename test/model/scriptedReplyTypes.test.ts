import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';

// A user's first stand-in: an inline function answering one of two replies. TypeScript widens the
// two object literals of the conditional into one union with `a?: undefined` / `message?: undefined`
// members; the scripted model must take that as written (undefined members dropped when sent).

const here = dirname(fileURLToPath(import.meta.url));
const snippetPath = join(here, 'scripted-reply-snippet.ts');

/** tsc's errors for `source`, compiled as a module beside this test (strict, NodeNext). */
function typeErrors(source: string): string[] {
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
  host.fileExists = (name) => name === snippetPath || fileExists.call(host, name);
  host.readFile = (name) => (name === snippetPath ? source : readFile.call(host, name));
  host.getSourceFile = (name, version, ...rest) =>
    name === snippetPath ? ts.createSourceFile(name, source, version) : getSourceFile.call(host, name, version, ...rest);
  const program = ts.createProgram([snippetPath], options, host);
  return ts
    .getPreEmitDiagnostics(program, program.getSourceFile(snippetPath))
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

const request = (context: string): ModelRequest => ({ threadId: 'th_1', agent: 'calculator', system: 's', context, tools: [], signal: new AbortController().signal });

describe('scripted replies as users write them', () => {
  it('an inline stand-in answering one of two literals type-checks, as a script step and as whenExhausted', () => {
    const errors = typeErrors(`
import { scriptedModel } from '../../src/testing/index.js';
export const asFallback = scriptedModel([], {
  whenExhausted: (req) => req.context.includes('<tool_result tool="add"')
    ? { intent: 'done_for_now', args: { message: 'sum done' } }
    : { intent: 'add', args: { a: 1, b: 2 } },
});
export const asStep = scriptedModel([(req) => (req.context.length > 0 ? { intent: 'add', args: { a: 1 } } : { intent: 'done_for_now', args: { message: 'x' } })]);
`);
    expect(errors).toEqual([]);
  });

  it('still refuses args that are not JSON (a function)', () => {
    const errors = typeErrors(`
import { scriptedModel } from '../../src/testing/index.js';
export const bad = scriptedModel([{ intent: 'add', args: { a: () => 1 } }]);
`);
    expect(errors.join('\n')).toContain("Type '() => number' is not assignable");
  });

  it('drops undefined members from the arguments it sends, as JSON.stringify does', async () => {
    const args: Record<string, number | string | undefined> = { a: 1, b: undefined, message: undefined };
    const model = scriptedModel([{ intent: 'add', args }]);
    const result = await model.complete(request('c'));
    expect(result).toMatchObject({ success: true, data: { toolCall: { name: 'add', arguments: '{"a":1}' } } });
  });
});
