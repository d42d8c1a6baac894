import { z } from 'zod';
import { tool, type Json, type Thread } from 'switchyard';

/** What `lookup_order` returns. */
export interface Order {
  readonly orderId: string;
  readonly customer: string;
  /** In dollars. */
  readonly total: number;
}

/** A stand-in for your order system. */
const ORDERS: ReadonlyMap<string, Order> = new Map(
  [
    { orderId: 'A-1001', customer: 'ada@example.com', total: 40 },
    { orderId: 'A-1002', customer: 'grace@example.com', total: 120 },
  ].map((order) => [order.orderId, order]),
);

/** Reads an order: safe to run again after a crash (`idempotent`), so it never asks a human. */
export const lookupOrder = tool({
  name: 'lookup_order',
  description: 'Look an order up by its id: the customer and the total in dollars',
  input: z.object({ orderId: z.string().describe('The order id, e.g. A-1001') }),
  idempotent: true,
  run: ({ orderId }): Order => {
    const order = ORDERS.get(orderId);
    // A thrown error becomes an `error` event the model reads, not a crash.
    if (order === undefined) throw new Error(`there is no order ${orderId}`);
    return order;
  },
});

/** Moves money: a human approves every call before it runs. */
export const refund = tool({
  name: 'refund',
  description: 'Refund an amount in dollars on an order (a human approves it first)',
  input: z.object({
    orderId: z.string(),
    amount: z.number().positive(),
    reason: z.string().describe('Why, in a few words'),
  }),
  approval: true,
  // The idempotency key is the same on every run of one call: pass it to your payment provider.
  run: ({ orderId, amount }, { idempotencyKey }) => ({ orderId, refunded: amount, reference: `rf_${idempotencyKey}` }),
});

/**
 * The total of `orderId` as `lookup_order` reported it in this thread, or null when it was not
 * looked up. A pure function of the thread, so a judge built on it decides the same on a replay.
 */
export function lookedUpTotal(thread: Thread, orderId: string): number | null {
  for (const event of thread.events) {
    if (event.type !== 'tool_result' || event.data.tool !== lookupOrder.name) continue;
    const result = event.data.result as { [key: string]: Json } | null;
    if (result?.orderId === orderId && typeof result.total === 'number') return result.total;
  }
  return null;
}
