import { readInert } from './renderContext.js';

/** One tagged block of a context rendered by {@link renderContext}: `<tag a="1">body</tag>`. */
export interface ContextBlock {
  readonly tag: string;
  readonly attrs: Readonly<Record<string, string>>;
  /** The text between the tags, trimmed. */
  readonly body: string;
}

const BLOCK = /<([a-z_]+)((?:\s+[\w-]+="[^"]*")*)\s*>([\s\S]*?)<\/\1>/g;
const ATTR = /([\w-]+)="([^"]*)"/g;

/**
 * Reads a context in switchyard's compact format back into its blocks, in order: the inverse of
 * the renderer, kept beside it so the format is spelled in one place. Self-closing markers
 * (`<omitted blocks="3"/>`) are skipped; text outside blocks is ignored.
 *
 * @example
 * ```ts
 * parseContext('<input>\nhi\n</input>'); // [{ tag: 'input', attrs: {}, body: 'hi' }]
 * ```
 */
export function parseContext(text: string): ContextBlock[] {
  const blocks: ContextBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const attrs: Record<string, string> = {};
    for (const attr of (match[2] ?? '').matchAll(ATTR)) attrs[attr[1]!] = readInert(attr[2]!);
    blocks.push({ tag: match[1]!, attrs, body: readInert((match[3] ?? '').trim()) });
  }
  return blocks;
}
