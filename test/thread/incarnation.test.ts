import { describe, expect, it } from 'vitest';
import { deliveryIdAt, deliveryIdOf, incarnateId, incarnationOf, isDelivered, parseStreamEventId, streamEventIdOf } from '../../src/thread/incarnation.js';

const at = '2026-12-06T04:19:06.123Z';
const thread = { id: 'order-1234', events: [{ seq: 1, at, type: 'input' as const, data: { input: 'x' } }] };

describe('incarnations', () => {
  it('name a thread by its id and creation instant: epoch ms in base 36, the same from a thread and from its summary', () => {
    expect(incarnationOf(at)).toBe(Date.parse(at).toString(36));
    expect(incarnationOf(at)).toHaveLength(8);
    expect(deliveryIdOf(thread, 5)).toBe(`order-1234@${Date.parse(at).toString(36)}:5`);
    expect(deliveryIdAt({ id: 'order-1234', createdAt: at }, 5)).toBe(deliveryIdOf(thread, 5));
    // Another instant, another incarnation; a time that does not parse is hashed, bounded alike.
    expect(incarnationOf('2026-12-06T04:19:06.124Z')).not.toBe(incarnationOf(at));
    expect(incarnationOf('not a time')).toMatch(/^[0-9a-f]{8}$/);
    expect(incarnateId('t1', undefined)).toBe('t1');
  });

  it('take a delivery as delivered when recorded under its id, or in the form before incarnations; never an earlier incarnation’s', () => {
    const id = deliveryIdOf(thread, 5);
    expect(isDelivered(id, id)).toBe(true);
    expect(isDelivered('order-1234:5', id)).toBe(true);
    expect(isDelivered(undefined, id)).toBe(false);
    expect(isDelivered('order-1234:4', id)).toBe(false);
    expect(isDelivered(`order-1234@${incarnationOf('2025-01-01T00:00:00.000Z')}:5`, id)).toBe(false);
    // A thread id holding a colon stays itself.
    const colon = deliveryIdOf({ id: 'a:b', events: thread.events }, 2);
    expect(isDelivered('a:b:2', colon)).toBe(true);
    expect(isDelivered('a:2', colon)).toBe(false);
  });

  it('name a stream event <incarnation>:<seq> and read it back, a bare seq too (streams before incarnations); nothing else', () => {
    const id = streamEventIdOf(at, 7);
    expect(id).toBe(`${incarnationOf(at)}:7`);
    expect(parseStreamEventId(id)).toEqual({ incarnation: incarnationOf(at), seq: 7 });
    expect(parseStreamEventId(streamEventIdOf('not a time', 0))).toEqual({ incarnation: incarnationOf('not a time'), seq: 0 });
    expect(streamEventIdOf(undefined, 3)).toBe('3');
    expect(parseStreamEventId('3')).toEqual({ incarnation: undefined, seq: 3 });
    expect(parseStreamEventId(String(Number.MAX_SAFE_INTEGER))).toEqual({ incarnation: undefined, seq: Number.MAX_SAFE_INTEGER });
    for (const bad of ['', 'x', 'ab:', ':3', 'AB:3', 'ab:-1', 'ab:1.5', 'a:b:3', ' ab:3', '9007199254740992', `order-1234@${incarnationOf(at)}:7`]) {
      expect(parseStreamEventId(bad), bad).toBeUndefined();
    }
  });
});
