import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KvEntry } from '@nats-io/kv';
import { errors } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { casWrite } from '../../src/nats/kvWrite.js';

const wrongLast = (): JetStreamApiError =>
  new JetStreamApiError({ code: 400, err_code: JetStreamApiCodes.StreamWrongLastSequence, description: 'wrong last sequence: 7' });
// How @nats-io/jetstream reports a publish nobody answered (a JetStreamNotEnabled, not exported, caused by it).
const noResponders = (): Error => new Error('jetstream is not enabled', { cause: new errors.NoRespondersError('$KV.t.k') });
const timeout = (): Error => new errors.TimeoutError();

/** A write that fails with these errors, one per try, then returns revision 9. */
function scripted(...failures: Array<() => Error>): { write: () => Promise<number>; tries: () => number } {
  let tries = 0;
  return {
    write: async () => {
      const fail = failures[tries++];
      if (fail) throw fail();
      return 9;
    },
    tries: () => tries,
  };
}

function stored(value: string, revision = 8, operation: KvEntry['operation'] = 'PUT'): () => Promise<KvEntry | null> {
  return async () => ({ value: new TextEncoder().encode(value), revision, operation }) as KvEntry;
}

const nothing = async (): Promise<KvEntry | null> => {
  throw new Error('must not read');
};

describe('casWrite', () => {
  it('tries again while nobody answers, and returns the revision of the try that landed', async () => {
    const s = scripted(noResponders, noResponders);
    await expect(casWrite(s.write, nothing, 'v')).resolves.toBe(9);
    expect(s.tries()).toBe(3);
  });

  it('gives up on no responders after its window', async () => {
    const s = scripted(noResponders, noResponders, noResponders, noResponders, noResponders);
    await expect(casWrite(s.write, nothing, 'v', 60)).rejects.toThrow('jetstream is not enabled');
  });

  it('after a timeout, a wrong last sequence with its own value stored is its own write: that revision', async () => {
    const s = scripted(timeout, wrongLast);
    await expect(casWrite(s.write, stored('{"a":1}', 8), '{"a":1}')).resolves.toBe(8);
  });

  it('after a timeout, a wrong last sequence with another value (or a delete) stored is a conflict', async () => {
    await expect(casWrite(scripted(timeout, wrongLast).write, stored('{"a":2}'), '{"a":1}')).rejects.toBeInstanceOf(JetStreamApiError);
    await expect(casWrite(scripted(timeout, wrongLast).write, stored('{"a":1}', 8, 'DEL'), '{"a":1}')).rejects.toBeInstanceOf(JetStreamApiError);
  });

  it('a wrong last sequence on the first try is a conflict, without a read', async () => {
    const s = scripted(wrongLast);
    await expect(casWrite(s.write, nothing, 'v')).rejects.toBeInstanceOf(JetStreamApiError);
    expect(s.tries()).toBe(1);
  });

  it('throws any other error at once', async () => {
    const s = scripted(() => new Error('permissions violation'));
    await expect(casWrite(s.write, nothing, 'v')).rejects.toThrow('permissions violation');
    expect(s.tries()).toBe(1);
  });
});
