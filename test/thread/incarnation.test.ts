import { describe, expect, it } from 'vitest';
import { deliveryIdAt, deliveryIdOf, incarnateId, incarnationOf, isDelivered } from '../../src/thread/incarnation.js';

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
});
