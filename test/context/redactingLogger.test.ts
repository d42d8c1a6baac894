import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { REDACTED } from '../../src/context/redact.js';
import { redactingLogger } from '../../src/context/redactingLogger.js';

const SECRET = 'plum-AGENT-SECRET-4471';

/** A pino logger (with `options`) whose lines are kept as text, each checked to be JSON. */
function capture(options: pino.LoggerOptions = {}) {
  const out = { text: '', lines: [] as Record<string, unknown>[] };
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.text += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line !== '') out.lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'trace', ...options }, destination), out };
}

describe('redactingLogger', () => {
  it('is built once per logger and lists of secrets', () => {
    const { logger } = capture();
    const secrets = [SECRET];
    const none: string[] = [];
    const modelKeys = ['model-KEY-0001'];
    expect(redactingLogger(logger, secrets)).toBe(redactingLogger(logger, secrets));
    expect(redactingLogger(logger, none)).toBe(redactingLogger(logger, none));
    expect(redactingLogger(logger, secrets, modelKeys)).toBe(redactingLogger(logger, secrets, modelKeys));
    expect(redactingLogger(logger, secrets, modelKeys)).not.toBe(redactingLogger(logger, secrets));
    expect(redactingLogger(logger, secrets)).not.toBe(logger);
  });

  it('redacts secret shapes and secret-named values at any depth with no secrets declared, and the model keys given (qa25 D7)', () => {
    const { logger, out } = capture();
    const modelKey = 'gwlive-ABCDEFGH123456';
    const log = redactingLogger(logger, [], [modelKey]).child({ threadId: 't1' });
    log.warn({ debugInfo: { deep: { authorization: 'Bearer nestedBEARER12345', key: 'sk-PLANTEDMODELKEY1234567890abcdef', password: 'PW-hunter2-XYZ', gateway: modelKey } } }, 'tool debug');
    log.warn({ err: 'request to https://u:URLPW-1234@h.example/x?token=QTOK-5678 failed, apiKey=AK-999' }, 'tool call failed');
    log.info({ usage: { promptTokens: 12 }, idempotencyKey: 'th_1:call_2' }, 'nothing to redact');
    expect(out.lines[0]).toMatchObject({ threadId: 't1', debugInfo: { deep: { authorization: REDACTED, key: REDACTED, password: REDACTED, gateway: REDACTED } } });
    expect(out.lines[1]).toMatchObject({ err: `request to https://u:***@h.example/x?token=*** failed, apiKey=${REDACTED}` });
    expect(out.lines[2]).toMatchObject({ usage: { promptTokens: 12 }, idempotencyKey: 'th_1:call_2' });
    for (const secret of ['nestedBEARER', 'PLANTEDMODELKEY', 'hunter2', modelKey, 'URLPW', 'QTOK', 'AK-999']) expect(out.text).not.toContain(secret);
  });

  it('redacts the secrets from fields, nested values, messages, printf arguments, errors and the bindings of its children', () => {
    const { logger, out } = capture();
    const log = redactingLogger(logger, [SECRET]).child({ threadId: 't1', card: SECRET });
    log.info({ note: `using ${SECRET}`, nested: { list: [1, `key ${SECRET}`] } }, `charging with ${SECRET}`);
    log.child({ deeper: SECRET }).warn('%s and %j', SECRET, { again: SECRET });
    log.error(new Error(`failed for ${SECRET}`));
    expect(out.lines).toHaveLength(3);
    expect(out.lines[0]).toMatchObject({ threadId: 't1', card: REDACTED, note: `using ${REDACTED}`, nested: { list: [1, `key ${REDACTED}`] }, msg: `charging with ${REDACTED}` });
    expect(out.lines[1]).toMatchObject({ deeper: REDACTED, msg: `${REDACTED} and {"again":"${REDACTED}"}` });
    expect(out.lines[2]).toMatchObject({ msg: `failed for ${REDACTED}`, err: { message: `failed for ${REDACTED}` } });
    expect((out.lines[2]!.err as { stack: string }).stack).toMatch(/^Error: failed for \[REDACTED\]\n/);
    expect(out.text).not.toContain(SECRET);
  });

  it('finds a secret with a quote or a backslash in it as JSON escapes it, and every line stays JSON', () => {
    const odd = 'pa"ss\\word-42';
    const { logger, out } = capture();
    redactingLogger(logger, [odd]).info({ given: odd }, `message ${odd}`);
    expect(out.lines[0]).toMatchObject({ given: REDACTED, msg: `message ${REDACTED}` });
  });

  it('redacts secret-shaped text as a thread does, and leaves the logger it came from as it was', () => {
    const { logger, out } = capture();
    redactingLogger(logger, [SECRET]).info('key sk-abcdefghijklmnopqrstuvwx');
    logger.info(`root ${SECRET}`);
    expect(out.lines.map((l) => l.msg)).toEqual([`key ${REDACTED}`, `root ${SECRET}`]);
  });

  it("keeps the root logger's own streamWrite hook, run on the redacted line", () => {
    const seen: string[] = [];
    const { logger, out } = capture({
      hooks: {
        streamWrite: (line) => {
          seen.push(line);
          return line.replace('"msg":', '"hooked":true,"msg":');
        },
      },
    });
    redactingLogger(logger, [SECRET]).info(`with ${SECRET}`);
    expect(seen).toHaveLength(1);
    expect(seen[0]).not.toContain(SECRET);
    expect(out.lines[0]).toMatchObject({ hooked: true, msg: `with ${REDACTED}` });
  });

  // QA27 observe D2: serve redacts every line through a redacting logger; an agent's redacting
  // child of it masks the outer one's secrets too, and runs the root's own hook once per line.
  it('under an enclosing redacting logger, masks both lists and runs the root hook once', () => {
    let hooked = 0;
    const { logger, out } = capture({ hooks: { streamWrite: (line: string) => (hooked++, line) } });
    const outer = redactingLogger(logger, [], ['OUTER-model-key-1']);
    const inner = redactingLogger(outer, [SECRET]).child({ threadId: 't1' });
    inner.info({ note: `OUTER-model-key-1 and ${SECRET}`, url: 'https://u:PW-INNER-42@h.example/x' }, 'thread line');
    outer.info({ dsn: 'postgres://app:PW-OUTER-43@db/prod' }, 'start-up line');
    expect(out.lines[0]).toMatchObject({ threadId: 't1', note: `${REDACTED} and ${REDACTED}`, url: 'https://u:***@h.example/x' });
    expect(out.lines[1]).toMatchObject({ dsn: 'postgres://app:***@db/prod' });
    expect(hooked).toBe(2);
  });
});
