import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { THREAD_ID_PATTERN } from '../../src/runtime/runtime.js';
import { decodeThreadId, encodeThreadId, formatLine, parseThreadFile, type ParsedThreadFile, type ThreadFileContent } from '../../src/store/threadFile.js';
import type { ThreadEvent } from '../../src/thread/events.js';
import { initialState, reduceState } from '../../src/thread/state.js';
import { awkwardString, idArbitrary } from './idArbitrary.js';
import { batchesArbitrary } from './threadArbitrary.js';

/** A thread file: its bytes, its events, and where each line ends. */
interface File {
  readonly id: string;
  readonly agent: string;
  readonly at: string;
  readonly bytes: Buffer;
  readonly batches: readonly ThreadEvent[][];
  /** Byte offset after each line. */
  readonly ends: readonly number[];
}

function fileOf(id: string, agent: string, at: string, batches: readonly ThreadEvent[][]): File {
  const lines: Buffer[] = [];
  let version = 0;
  batches.forEach((batch, i) => {
    version += batch.length;
    lines.push(Buffer.from(formatLine(version, batch, i === 0 ? { id, agent, at } : undefined), 'utf8'));
  });
  const ends: number[] = [];
  let end = 0;
  for (const line of lines) ends.push((end += line.length));
  return { id, agent, at, bytes: Buffer.concat(lines), batches, ends };
}

const fileArbitrary: fc.Arbitrary<File> = fc
  .tuple(idArbitrary, awkwardString, awkwardString, batchesArbitrary)
  .map(([id, agent, at, batches]) => fileOf(id, agent, at, batches));

/** The content of a parse that must have succeeded. */
function contentOf(parsed: ParsedThreadFile): ThreadFileContent | undefined {
  if (!parsed.ok) throw new Error(`expected a parse, got: ${parsed.error}`);
  return parsed.content;
}

/** What reading the first `lines` whole lines of `file` must give. */
function expectLines(content: ThreadFileContent | undefined, file: File, lines: number): void {
  if (lines === 0) {
    expect(content).toBeUndefined();
    return;
  }
  const events = file.batches.slice(0, lines).flat();
  expect(content?.thread).toEqual({ id: file.id, agent: file.agent, events });
  expect(content?.state).toEqual(events.reduce(reduceState, initialState));
  expect(content?.createdAt).toBe(file.batches[0]!.length > 0 ? file.batches[0]![0]!.at : file.at);
  expect(content?.goodSize).toBe(file.ends[lines - 1]);
}

describe('thread file names', () => {
  it('give every storable id a safe, lower-case stem that reads back, and refuse the rest', () => {
    fc.assert(
      fc.property(idArbitrary, (id) => {
        const stem = encodeThreadId(id);
        if (stem === undefined) {
          // Refused only when ill-formed or too long for a file name (each code unit escapes to 9 characters at most).
          expect(/\p{Surrogate}/u.test(id) || id.length > 200 / 9).toBe(true);
          return;
        }
        expect(stem).toMatch(/^[a-z0-9_%-]{1,200}$/);
        expect(decodeThreadId(stem)).toBe(id);
      }),
      { numRuns: 300 },
    );
  });

  it('give every id the runtime accepts a stem that reads back, up to 128 upper-case letters and colons', () => {
    // The runtime's rule (THREAD_ID_PATTERN) is the one limit on every surface and both deployments:
    // whatever it lets in, the file store must hold, as the NATS KV store does.
    const accepted = fc.oneof(
      fc.stringMatching(THREAD_ID_PATTERN),
      fc.integer({ min: 1, max: 128 }).chain((length) => fc.array(fc.constantFrom('A', 'Z', ':', 'a', '0', '_', '-'), { minLength: length, maxLength: length }).map((chars) => chars.join(''))),
      fc.constantFrom('A'.repeat(128), ':'.repeat(128), 'A'.repeat(67), 'a:'.repeat(64), `${'Z'.repeat(127)}-`),
    );
    fc.assert(
      fc.property(accepted, (id) => {
        const stem = encodeThreadId(id);
        expect(stem).toBeDefined();
        expect(stem!.length).toBeLessThanOrEqual(200);
        expect(stem).toMatch(/^[a-z0-9_%~-]+$/);
        expect(decodeThreadId(stem!)).toBe(id);
      }),
      { numRuns: 300 },
    );
  });

  it('keep distinct ids apart, even on a case-insensitive file system', () => {
    fc.assert(
      fc.property(awkwardString, awkwardString, (a, b) => {
        const stemA = encodeThreadId(a);
        const stemB = encodeThreadId(b);
        fc.pre(a !== b && stemA !== undefined && stemB !== undefined);
        expect(stemA!.toLowerCase()).not.toBe(stemB!.toLowerCase());
      }),
      { numRuns: 300 },
    );
  });

  it('read back only stems they write', () => {
    const stemLike = fc
      .array(fc.oneof(fc.stringMatching(/^[a-z0-9_-]{1,3}$/), fc.stringMatching(/^%[0-9a-fA-F]{2}$/), fc.constantFrom('%2e', '%2E', '%41', '%c3%a9', '%ed%a0%80', '%c0%80', 'A', '.', '%')), { maxLength: 10 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(stemLike, fc.string()), (stem) => {
        const id = decodeThreadId(stem);
        if (id !== undefined) expect(encodeThreadId(id)).toBe(stem);
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseThreadFile', () => {
  it('reads back every file the store writes', () => {
    fc.assert(
      fc.property(fileArbitrary, (file) => {
        expectLines(contentOf(parseThreadFile(file.id, file.bytes)), file, file.batches.length);
      }),
      { numRuns: 200 },
    );
  });

  it('reads every file the store writes, prefix or whole, trusted (events not validated) as a validating read does', () => {
    fc.assert(
      fc.property(fileArbitrary, fc.nat(), (file, at) => {
        const bytes = file.bytes.subarray(0, at % (file.bytes.length + 1));
        expect(parseThreadFile(file.id, bytes, undefined, true)).toEqual(parseThreadFile(file.id, bytes));
      }),
      { numRuns: 200 },
    );
  });

  it('reads a torn file (any prefix, any torn tail) as its whole lines', () => {
    const torn = fc.tuple(fileArbitrary, fc.nat(), fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b.filter((byte) => byte !== 10))));
    fc.assert(
      fc.property(torn, ([file, at, tail]) => {
        const cut = at % (file.bytes.length + 1);
        const lines = file.ends.filter((end) => end <= cut).length;
        expectLines(contentOf(parseThreadFile(file.id, file.bytes.subarray(0, cut))), file, lines);
        // What a dead writer left after the whole lines (no newline yet) changes nothing.
        const whole = lines === 0 ? 0 : file.ends[lines - 1]!;
        expectLines(contentOf(parseThreadFile(file.id, Buffer.concat([file.bytes.subarray(0, whole), tail]))), file, lines);
      }),
      { numRuns: 200 },
    );
  });

  it('reads a file that grew, from where the last read ended, as a whole read would', () => {
    fc.assert(
      fc.property(fileArbitrary, fc.nat(), fc.nat(), (file, a, b) => {
        const [first, second] = [a % (file.bytes.length + 1), b % (file.bytes.length + 1)].sort((x, y) => x - y) as [number, number];
        const base = contentOf(parseThreadFile(file.id, file.bytes.subarray(0, first)));
        const whole = contentOf(parseThreadFile(file.id, file.bytes.subarray(0, second)));
        const grown = contentOf(parseThreadFile(file.id, file.bytes.subarray(base?.goodSize ?? 0, second), base));
        expect(grown).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it("never reads a file as another thread's", () => {
    fc.assert(
      fc.property(fileArbitrary, idArbitrary, (file, other) => {
        fc.pre(other !== file.id);
        expect(parseThreadFile(other, file.bytes).ok).toBe(false);
      }),
      { numRuns: 100 },
    );
  });

  it('answers damaged bytes with an error value, never a throw or a thread with a gap', () => {
    const damaged = fc.tuple(fileArbitrary, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })).map(([file, edits]) => {
      const bytes = Buffer.from(file.bytes);
      for (const [at, byte] of edits) if (bytes.length > 0) bytes[at % bytes.length] = byte;
      return { file, bytes };
    });
    fc.assert(
      fc.property(fc.oneof(damaged, fc.uint8Array({ maxLength: 64 }).map((b) => ({ file: undefined, bytes: Buffer.from(b) }))), ({ file, bytes }) => {
        const parsed = parseThreadFile(file?.id ?? 't', bytes);
        if (!parsed.ok) {
          expect(parsed.error.length).toBeGreaterThan(0);
          return;
        }
        if (parsed.content === undefined) return;
        const { thread, state, goodSize } = parsed.content;
        expect(thread.events.map((e) => e.seq)).toEqual(thread.events.map((_, i) => i + 1));
        expect(state.version).toBe(thread.events.length);
        expect(goodSize === 0 || bytes[goodSize - 1] === 10).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
