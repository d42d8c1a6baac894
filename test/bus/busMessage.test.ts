import { describe, expect, it } from 'vitest';
import { parseJson } from '../../src/bus/busMessage.js';

describe('parseJson', () => {
  it('refuses a payload that is not UTF-8 rather than reading replacement characters into it (a trigger\'s input, a response)', () => {
    // {"input":"a<FF FE>b"}: valid JSON around bytes that are never UTF-8.
    const payload = Buffer.concat([Buffer.from('{"input":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('b"}')]);
    expect(parseJson(payload)).toEqual({ success: false, error: 'payload is not valid UTF-8' });
    // A byte order mark is dropped, and text that is UTF-8 reads as before.
    expect(parseJson(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"input":"é☃"}')]))).toEqual({ success: true, data: { input: 'é☃' } });
  });
});
