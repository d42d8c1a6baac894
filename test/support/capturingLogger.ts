import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.js';

/** A pino line as parsed back. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number; err?: { message?: string; stack?: string } };

/**
 * The switchyard logger `serve` and `worker` use, at `level`, writing into `out.text` (the raw
 * lines, for what JSON.parse hides: duplicate keys, a secret anywhere) and `out.lines` (parsed).
 */
export function capturingLogger(level = 'info'): { logger: Logger; out: { text: string; lines: LogLine[] } } {
  const out = { text: '', lines: [] as LogLine[] };
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = chunk.toString();
      out.text += text;
      for (const line of text.split('\n')) if (line !== '') out.lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: createLogger({ level, destination }), out };
}
